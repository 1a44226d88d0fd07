using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Json.Schema;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// Function calling and structured output through <see cref="Gpt2ChatClient"/> over a tiny random Qwen3 model with Qwen3's
/// tokenizer and chat template (<see cref="TinyQwenModel"/>): required calls whose arguments validate (JsonSchema.Net),
/// Microsoft.Extensions.AI's FunctionInvokingChatClient running a real tool loop, and GetResponseAsync&lt;T&gt;.
/// </summary>
[TestClass]
public sealed class ToolCallingChatClientTests
{
    private static string _folder = null!;
    private static Gpt2ChatClient _client = null!;

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        _folder = TinyQwenModel.Write(Path.Combine(Path.GetTempPath(), "gpt2-qwen-tools-" + Guid.NewGuid().ToString("N")));
        _client = Gpt2ChatClient.Create(_folder, engine: DecodingEngine.TorchSharp);
    }

    [ClassCleanup]
    public static void Unload()
    {
        _client.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    internal static AIFunctionDeclaration Weather { get; } = AIFunctionFactory.CreateDeclaration("get_weather", "The weather in a city.", JsonDocument.Parse("""
        {"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},
         "required":["city","unit"],"additionalProperties":false}
        """).RootElement);

    internal static AIFunctionDeclaration Time { get; } = AIFunctionFactory.CreateDeclaration("get_time", "The time in a zone.", JsonDocument.Parse("""
        {"type":"object","properties":{"zone":{"type":"string","enum":["CET","UTC","PST"]},"exact":{"type":"boolean"}},"required":["zone","exact"],"additionalProperties":false}
        """).RootElement);

    private static readonly ChatMessage[] Question = [new(ChatRole.System, "You answer with tools."), new(ChatRole.User, "What is the weather in Paris?")];

    internal static void AssertValidCall(FunctionCallContent call, params AIFunctionDeclaration[] functions)
    {
        AIFunctionDeclaration function = functions.Single(f => f.Name == call.Name);
        string arguments = JsonSerializer.Serialize(call.Arguments, AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>)));
        EvaluationResults results = JsonSchema.FromText(function.JsonSchema.GetRawText()).Evaluate(JsonDocument.Parse(arguments).RootElement);
        Assert.IsTrue(results.IsValid, $"{call.Name}({arguments}) does not validate against its schema");
    }

    public static IEnumerable<object?[]> Samplings() =>
    [
        [null, null], [1.0f, 1L], [1.0f, 2L], [1.5f, 3L], [0.8f, 4L],
    ];

    [TestMethod]
    [DynamicData(nameof(Samplings))]
    public async Task ARequiredCallIsOneCallWhoseArgumentsValidateAgainstTheFunctionsSchema(float? temperature, long? seed)
    {
        foreach (ChatToolMode mode in new[] { ChatToolMode.RequireSpecific("get_time"), ChatToolMode.RequireAny })
        {
            var options = new ChatOptions { Tools = [Weather, Time], ToolMode = mode, Temperature = temperature, Seed = seed, MaxOutputTokens = 120 };
            ChatResponse response = await _client.GetResponseAsync(Question, options);

            string text = ((TextGenerationResult)response.RawRepresentation!).Text;
            StringAssert.StartsWith(text, "<tool_call>\n{", $"{mode}: the model wrote {text}");
            StringAssert.EndsWith(text, "}\n</tool_call>");
            Assert.AreEqual(ChatFinishReason.ToolCalls, response.FinishReason);
            FunctionCallContent call = (FunctionCallContent)response.Messages.Single().Contents.Single();
            if (mode is RequiredChatToolMode { RequiredFunctionName: string name })
                Assert.AreEqual(name, call.Name);
            AssertValidCall(call, Weather, Time);
        }
    }

    [TestMethod]
    public async Task StreamedARequiredCallIsOneUpdateWithTheSameCallAndNoTagText()
    {
        var options = new ChatOptions { Tools = [Weather, Time], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 120 };
        FunctionCallContent whole = (FunctionCallContent)(await _client.GetResponseAsync(Question, options)).Messages.Single().Contents.Single();

        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync(Question, options))
            updates.Add(update);

        Assert.AreEqual("", string.Concat(updates.Select(u => u.Text)), "the call's text is not streamed");
        FunctionCallContent streamed = updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>().Single();
        Assert.AreEqual(whole.Name, streamed.Name);
        CollectionAssert.AreEqual(whole.Arguments!.Select(a => $"{a.Key}={a.Value}").ToList(), streamed.Arguments!.Select(a => $"{a.Key}={a.Value}").ToList());
        Assert.AreEqual(ChatFinishReason.ToolCalls, updates[^1].FinishReason);
    }

    [TestMethod]
    public async Task InAutoModeTheModelReadsTheToolsAndAnAnswerWithoutCallsIsItsTextUnchanged()
    {
        var tools = new ChatOptions { Tools = [Weather, Time], MaxOutputTokens = 12 };
        ChatResponse withTools = await _client.GetResponseAsync(Question, tools);
        ChatResponse without = await _client.GetResponseAsync(Question, new ChatOptions { MaxOutputTokens = 12 });

        string rendered = _client.Format.Render(Question, tools);
        StringAssert.Contains(rendered, "<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"");
        Assert.AreEqual(_client.Service.Tokenizer.Encode(rendered, allowSpecialTokens: true).Length, (int)withTools.Usage!.InputTokenCount!);
        Assert.IsTrue(withTools.Usage.InputTokenCount > without.Usage!.InputTokenCount + 50, "the tools are in the prompt");
        var result = (TextGenerationResult)withTools.RawRepresentation!;
        Assert.IsFalse(result.Text.Contains("<tool_call>", StringComparison.Ordinal), "this random model does not call (else pick another seed)");
        Assert.AreEqual(result.Text, withTools.Text);
        Assert.AreNotEqual(ChatFinishReason.ToolCalls, withTools.FinishReason);
    }

    // Records what FunctionInvokingChatClient sends to the model, and what comes back.
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
    public async Task FunctionInvokingChatClientRunsAToolLoopOverTheLocalModel()
    {
        var invoked = new List<(Zone Zone, bool Exact)>();
        AIFunction getTime = AIFunctionFactory.Create((Zone zone, bool exact) =>
        {
            invoked.Add((zone, exact));
            return $"It is 12:00 in {zone}.";
        }, "get_time", "The time in a zone.");
        var recorder = new Recorder(_client);
        IChatClient loop = new ChatClientBuilder(recorder).UseFunctionInvocation().Build();   // not disposed: that would dispose the shared client

        ChatResponse response = await loop.GetResponseAsync(Question,
            new ChatOptions { Tools = [getTime], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 60, Temperature = 0 });

        // The model's call reached the function with the arguments it wrote.
        Assert.AreEqual(2, recorder.Calls.Count, "one call, then the answer");
        FunctionCallContent call = (FunctionCallContent)recorder.Calls[0].Response.Messages.Single().Contents.Single();
        Assert.AreEqual("get_time", call.Name);
        Assert.AreEqual(1, invoked.Count);
        Assert.AreEqual(((JsonElement)call.Arguments!["zone"]!).GetString(), invoked[0].Zone.ToString());
        Assert.AreEqual(((JsonElement)call.Arguments!["exact"]!).GetBoolean(), invoked[0].Exact);

        // Its result went back as a tool message, which the template rendered into the prompt the model read (as JSON, the
        // way Microsoft.Extensions.AI's OpenAI client sends a result that is not a string).
        (List<ChatMessage> second, ChatOptions? secondOptions, ChatResponse answer) = recorder.Calls[1];
        FunctionResultContent result = second.Last().Contents.OfType<FunctionResultContent>().Single();
        Assert.AreEqual(call.CallId, result.CallId);
        string prompt = _client.Format.Render(second, secondOptions);
        StringAssert.Contains(prompt, $"<tool_call>\n{{\"name\": \"get_time\", \"arguments\": {{\"zone\": \"{invoked[0].Zone}\", \"exact\": {(invoked[0].Exact ? "true" : "false")}}}}}\n</tool_call><|im_end|>");
        StringAssert.Contains(prompt, $"<|im_start|>user\n<tool_response>\n\"It is 12:00 in {invoked[0].Zone}.\"\n</tool_response><|im_end|>\n<|im_start|>assistant\n");
        // (The response's usage is the loop's total by now; the generation result holds this call's own.)
        Assert.AreEqual(_client.Service.Tokenizer.Encode(prompt, allowSpecialTokens: true).Length, ((TextGenerationResult)answer.RawRepresentation!).PromptTokenCount);

        // The loop ended with the model's answer, after the call and its result.
        Assert.AreNotEqual(ChatFinishReason.ToolCalls, answer.FinishReason);
        CollectionAssert.AreEqual(new[] { ChatRole.Assistant, ChatRole.Tool, ChatRole.Assistant }, response.Messages.Select(m => m.Role).ToArray());
    }

    public enum Zone { CET, UTC, PST }

    // Bounded (MaxLength becomes maxLength and maxItems in the schema) so that a random model's document ends within the
    // token limit; a real model stops a string itself.
    public sealed record CityWeather([property: MaxLength(16)] string City, Season Season, bool Sunny, [property: MaxLength(3)] List<Season> Others);

    public enum Season { Spring, Summer, Autumn, Winter }

    private sealed class SchemaRecorder(IChatClient inner) : DelegatingChatClient(inner)
    {
        public List<JsonElement> Schemas { get; } = [];

        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Schemas.Add(((ChatResponseFormatJson)options!.ResponseFormat!).Schema!.Value);
            return base.GetResponseAsync(messages, options, cancellationToken);
        }
    }

    [TestMethod]
    [DataRow(null, null)]
    [DataRow(1.0f, 11L)]
    [DataRow(1.0f, 12L)]
    public async Task GetResponseAsyncOfTReturnsATypedObjectThatValidates(float? temperature, long? seed)
    {
        var recorder = new SchemaRecorder(_client);
        var options = new ChatOptions { MaxOutputTokens = 400, Temperature = temperature, Seed = seed };

        ChatResponse<CityWeather> weather = await recorder.GetResponseAsync<CityWeather>(Question, options: options);
        Assert.IsTrue(weather.TryGetResult(out CityWeather? report), weather.Text);
        Assert.IsNotNull(report);
        Assert.IsTrue(JsonSchema.FromText(recorder.Schemas[0].GetRawText()).Evaluate(JsonDocument.Parse(weather.Text).RootElement).IsValid, weather.Text);

        // A type that is not an object is wrapped in {"data": ...} by the extension; the model writes the wrapper.
        ChatResponse<Season> season = await recorder.GetResponseAsync<Season>([new ChatMessage(ChatRole.User, "Which season is it?")], options: options);
        Assert.IsTrue(season.TryGetResult(out Season name), season.Text);
        Assert.IsTrue(Enum.IsDefined(name));
        StringAssert.StartsWith(season.Text, "{\"data\":");
        Assert.IsTrue(JsonSchema.FromText(recorder.Schemas[1].GetRawText()).Evaluate(JsonDocument.Parse(season.Text).RootElement).IsValid, season.Text);
    }
}
