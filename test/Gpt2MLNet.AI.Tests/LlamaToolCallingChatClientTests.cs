using System.Text.Json;
using Gpt2.Torch.Generation;
using Json.Schema;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// Function calling through <see cref="Gpt2ChatClient"/> over a tiny random Llama model with the Llama 3 tokenizer and
/// Llama 3.2's chat template (<see cref="TinyLlamaModel"/>): the template's tools and calls rendered as @huggingface/jinja
/// renders them, required calls written as the bare JSON Llama writes (no tags) whose arguments validate (JsonSchema.Net),
/// and Microsoft.Extensions.AI's FunctionInvokingChatClient running a tool loop to its end.
/// </summary>
[TestClass]
public sealed class LlamaToolCallingChatClientTests
{
    private static string _folder = null!;
    private static Gpt2ChatClient _client = null!;

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        _folder = TinyLlamaModel.Write(Path.Combine(Path.GetTempPath(), "gpt2-llama-tools-" + Guid.NewGuid().ToString("N")));
        _client = Gpt2ChatClient.Create(_folder, engine: DecodingEngine.TorchSharp);
    }

    [ClassCleanup]
    public static void Unload()
    {
        _client.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private static readonly ChatMessage[] Question = [new(ChatRole.System, "You answer with tools."), new(ChatRole.User, "What is the weather in Paris?")];

    private static AIFunctionDeclaration Weather => ToolCallingChatClientTests.Weather;

    private static AIFunctionDeclaration Time => ToolCallingChatClientTests.Time;

    [TestMethod]
    public void ToolsCallsAndResultsRenderAsHuggingFaceJinjaRendersThem()
    {
        JsonElement fixture = ToolPromptTests.Fixture("llama-3.2-instruct/tools/generation");
        ChatPromptFormat format = ChatPromptFormat.FromTokenizer(TinyLlamaModel.LoadTokenizer());
        Assert.IsTrue(format.RendersTools);

        string rendered = format.Render(ToolPromptTests.Messages(fixture), new ChatOptions { Tools = ToolPromptTests.Tools(fixture) });

        Assert.AreEqual(fixture.GetProperty("expected").GetString(), rendered);
    }

    [TestMethod]
    public void Llama31sTemplateRendersToolsToo()
    {
        ChatPromptFormat format = ChatPromptFormat.FromTokenizer(TinyQwenModel.LoadTokenizer(TinyQwenModel.Template("llama-3.1-instruct.jinja")));
        Assert.IsTrue(format.RendersTools);
        StringAssert.Contains(format.Render(Question, new ChatOptions { Tools = [Time] }), "\"name\": \"get_time\"");
    }

    [TestMethod]
    public void ARequiredCallsConstraintIsABareCallWithParametersAndNoFraming()
    {
        var options = new ChatOptions { Tools = [Weather, Time], ToolMode = ChatToolMode.RequireAny };
        StructuredOutput constraint = Gpt2ChatOptions.ToGenerationOptions(options, new GenerationOptions(), _client.Format).StructuredOutput!;

        Assert.AreEqual("", constraint.Prefix);
        Assert.AreEqual("", constraint.Suffix);
        JsonSchema schema = JsonSchema.FromText(constraint.JsonSchema!.Value.GetRawText());
        Assert.IsTrue(schema.Evaluate(JsonDocument.Parse("""{"name": "get_time", "parameters": {"zone": "CET", "exact": true}}""").RootElement).IsValid);
        Assert.IsFalse(schema.Evaluate(JsonDocument.Parse("""{"name": "get_time", "arguments": {"zone": "CET", "exact": true}}""").RootElement).IsValid, "Hermes' key");
        Assert.IsFalse(schema.Evaluate(JsonDocument.Parse("""{"name": "get_time", "parameters": {"city": "Paris", "unit": "celsius"}}""").RootElement).IsValid, "another function's parameters");
        Assert.IsFalse(schema.Evaluate(JsonDocument.Parse("""{"name": "get_date", "parameters": {}}""").RootElement).IsValid, "a function not offered");
    }

    public static IEnumerable<object?[]> Samplings() =>
    [
        [null, null], [1.0f, 1L], [1.5f, 3L],
    ];

    [TestMethod]
    [DynamicData(nameof(Samplings))]
    public async Task ARequiredCallIsBareJsonWhoseParametersValidateAgainstTheFunctionsSchema(float? temperature, long? seed)
    {
        foreach (ChatToolMode mode in new[] { ChatToolMode.RequireSpecific("get_time"), ChatToolMode.RequireAny })
        {
            var options = new ChatOptions { Tools = [Weather, Time], ToolMode = mode, Temperature = temperature, Seed = seed, MaxOutputTokens = 120 };
            ChatResponse response = await _client.GetResponseAsync(Question, options);

            string text = ((TextGenerationResult)response.RawRepresentation!).Text;
            using JsonDocument written = JsonDocument.Parse(text);
            Assert.AreEqual(JsonValueKind.Object, written.RootElement.GetProperty("parameters").ValueKind, $"{mode}: the model wrote {text}");
            Assert.IsFalse(written.RootElement.TryGetProperty("arguments", out _), "Llama's key, not Hermes'");
            Assert.AreEqual(ChatFinishReason.ToolCalls, response.FinishReason);
            FunctionCallContent call = (FunctionCallContent)response.Messages.Single().Contents.Single();
            Assert.AreEqual(written.RootElement.GetProperty("name").GetString(), call.Name);
            if (mode is RequiredChatToolMode { RequiredFunctionName: string name })
                Assert.AreEqual(name, call.Name);
            ToolCallingChatClientTests.AssertValidCall(call, Weather, Time);
        }
    }

    [TestMethod]
    public async Task StreamedARequiredCallIsOneUpdateWithTheSameCallAndNoJsonText()
    {
        var options = new ChatOptions { Tools = [Weather, Time], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 120 };
        FunctionCallContent whole = (FunctionCallContent)(await _client.GetResponseAsync(Question, options)).Messages.Single().Contents.Single();

        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync(Question, options))
            updates.Add(update);

        Assert.AreEqual("", string.Concat(updates.Select(u => u.Text)), "the call's JSON is not streamed");
        FunctionCallContent streamed = updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>().Single();
        Assert.AreEqual(whole.Name, streamed.Name);
        CollectionAssert.AreEqual(whole.Arguments!.Select(a => $"{a.Key}={a.Value}").ToList(), streamed.Arguments!.Select(a => $"{a.Key}={a.Value}").ToList());
        Assert.AreEqual(ChatFinishReason.ToolCalls, updates[^1].FinishReason);
    }

    [TestMethod]
    public async Task InAutoModeTheToolsAreInThePromptAndATextAnswerIsUnchanged()
    {
        var tools = new ChatOptions { Tools = [Weather, Time], MaxOutputTokens = 12 };
        ChatResponse withTools = await _client.GetResponseAsync(Question, tools);

        string rendered = _client.Format.Render(Question, tools);
        StringAssert.Contains(rendered, "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.");
        StringAssert.Contains(rendered, "\"name\": \"get_weather\"");
        Assert.AreEqual(_client.Service.Tokenizer.Encode(rendered, allowSpecialTokens: true).Length, (int)withTools.Usage!.InputTokenCount!);
        var result = (TextGenerationResult)withTools.RawRepresentation!;
        Assert.IsFalse(result.Text.StartsWith('{'), "this random model does not call (else pick another seed)");
        Assert.AreEqual(result.Text, withTools.Text);
        Assert.AreNotEqual(ChatFinishReason.ToolCalls, withTools.FinishReason);
    }

    private sealed class Recorder(IChatClient inner) : DelegatingChatClient(inner)
    {
        public List<(List<ChatMessage> Messages, ChatOptions? Options, ChatResponse Response)> Calls { get; } = [];

        public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            List<ChatMessage> sent = [.. messages];
            ChatResponse response = await base.GetResponseAsync(sent, options, cancellationToken);
            Calls.Add((sent, options, response));
            return response;
        }
    }

    [TestMethod]
    public async Task FunctionInvokingChatClientRunsAToolLoopToItsEnd()
    {
        var invoked = new List<(ToolCallingChatClientTests.Zone Zone, bool Exact)>();
        AIFunction getTime = AIFunctionFactory.Create((ToolCallingChatClientTests.Zone zone, bool exact) =>
        {
            invoked.Add((zone, exact));
            return $"It is 12:00 in {zone}.";
        }, "get_time", "The time in a zone.");
        var recorder = new Recorder(_client);
        IChatClient loop = new ChatClientBuilder(recorder).UseFunctionInvocation().Build();   // not disposed: that would dispose the shared client

        ChatResponse response = await loop.GetResponseAsync(Question,
            new ChatOptions { Tools = [getTime], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 60, Temperature = 0 });

        Assert.AreEqual(2, recorder.Calls.Count, "one call, then the answer");
        FunctionCallContent call = (FunctionCallContent)recorder.Calls[0].Response.Messages.Single().Contents.Single();
        Assert.AreEqual("get_time", call.Name);
        Assert.AreEqual(1, invoked.Count);
        Assert.AreEqual(((JsonElement)call.Arguments!["zone"]!).GetString(), invoked[0].Zone.ToString());
        Assert.AreEqual(((JsonElement)call.Arguments!["exact"]!).GetBoolean(), invoked[0].Exact);

        // The call and its result went back through Llama's template: the call as it writes one, the result as ipython.
        (List<ChatMessage> second, ChatOptions? secondOptions, ChatResponse answer) = recorder.Calls[1];
        string prompt = _client.Format.Render(second, secondOptions);
        StringAssert.Contains(prompt, $"<|start_header_id|>assistant<|end_header_id|>\n\n{{\"name\": \"get_time\", \"parameters\": {{\"zone\": \"{invoked[0].Zone}\", \"exact\": {(invoked[0].Exact ? "true" : "false")}}}}}<|eot_id|>");
        StringAssert.Contains(prompt, $"<|start_header_id|>ipython<|end_header_id|>\n\n");
        StringAssert.Contains(prompt, $"It is 12:00 in {invoked[0].Zone}.");
        Assert.AreEqual(_client.Service.Tokenizer.Encode(prompt, allowSpecialTokens: true).Length, ((TextGenerationResult)answer.RawRepresentation!).PromptTokenCount);

        Assert.AreNotEqual(ChatFinishReason.ToolCalls, answer.FinishReason);
        CollectionAssert.AreEqual(new[] { ChatRole.Assistant, ChatRole.Tool, ChatRole.Assistant }, response.Messages.Select(m => m.Role).ToArray());
    }
}
