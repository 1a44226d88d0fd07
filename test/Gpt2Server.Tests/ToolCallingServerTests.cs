using System.ClientModel;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Gpt2MLNet.AI.Tests;
using Json.Schema;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatResponseFormat = Microsoft.Extensions.AI.ChatResponseFormat;
using SdkChatFinishReason = OpenAI.Chat.ChatFinishReason;
using SdkChatResponseFormat = OpenAI.Chat.ChatResponseFormat;

namespace Gpt2Server.Tests;

/// <summary>
/// Structured output and function calling on <c>/v1/chat/completions</c>, served from a tiny random Qwen3 model with
/// Qwen3's tokenizer and template and called with the official OpenAI .NET SDK (and Microsoft.Extensions.AI over it): every
/// answer equals the in-process <see cref="Gpt2ChatClient"/>'s for the same request, and validates (JsonSchema.Net).
/// </summary>
[TestClass]
public sealed class ToolCallingServerTests
{
    private const string ModelId = "tiny-qwen3-tools";
    private static FolderModelServer _server = null!;
    private static OpenAIClient _openAI = null!;
    private static Gpt2ChatClient _reference = null!;
    private static ServerHttp _http = null!;

    private const string TimeSchema =
        """{"type":"object","properties":{"zone":{"type":"string","enum":["CET","UTC","PST"]},"exact":{"type":"boolean"}},"required":["zone","exact"],"additionalProperties":false}""";
    private const string WeatherSchema =
        """{"type":"object","properties":{"city":{"type":"string","maxLength":10},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","unit"],"additionalProperties":false}""";
    private const string ReportSchema =
        """{"type":"object","properties":{"city":{"type":"string","maxLength":12},"sunny":{"type":"boolean"},"season":{"enum":["spring","summer","autumn","winter"]},"tags":{"type":"array","items":{"type":"string","maxLength":6},"maxItems":2}},"required":["city","sunny","season","tags"],"additionalProperties":false}""";

    private static readonly AIFunctionDeclaration[] Functions =
    [
        AIFunctionFactory.CreateDeclaration("get_time", "The time in a zone.", JsonDocument.Parse(TimeSchema).RootElement),
        AIFunctionFactory.CreateDeclaration("get_weather", "The weather in a city.", JsonDocument.Parse(WeatherSchema).RootElement),
    ];

    private static readonly ChatTool[] SdkTools =
    [
        ChatTool.CreateFunctionTool("get_time", "The time in a zone.", BinaryData.FromString(TimeSchema)),
        ChatTool.CreateFunctionTool("get_weather", "The weather in a city.", BinaryData.FromString(WeatherSchema)),
    ];

    private sealed class ServerHttp(Uri baseAddress) : IDisposable
    {
        private readonly HttpClient _client = new() { BaseAddress = baseAddress };

        public async Task<(int Status, JsonElement Json)> PostAsync(string json)
        {
            using var content = new StringContent(json, Encoding.UTF8, "application/json");
            HttpResponseMessage response = await _client.PostAsync("v1/chat/completions", content);
            return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
        }

        public void Dispose() => _client.Dispose();
    }

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await FolderModelServer.StartAsync(ModelId, folder => TinyQwenModel.Write(folder), "--engine", "torchsharp");
        _openAI = _server.OpenAI;
        _http = new ServerHttp(_server.BaseAddress);
        _reference = _server.Reference;
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    private static readonly AIChatMessage[] Question = [new(ChatRole.System, "Use the tools."), new(ChatRole.User, "What time is it in Berlin?")];
    private static readonly OpenAI.Chat.ChatMessage[] SdkQuestion = [new SystemChatMessage("Use the tools."), new UserChatMessage("What time is it in Berlin?")];

    private static string Canonical(string json) => JsonNode.Parse(json)!.ToJsonString();

    private static string Canonical(IDictionary<string, object?>? arguments) =>
        Canonical(JsonSerializer.Serialize(arguments, AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>))));

    public static IEnumerable<object?[]> Choices() =>
    [
        ["required", null, null],
        ["get_weather", null, null],
        ["required", 1.0f, 5L],
        ["get_time", 1.2f, 6L],
    ];

    [TestMethod]
    [DynamicData(nameof(Choices))]
    public async Task RequiredToolCallsThroughTheOpenAISdkEqualTheInProcessClientsWholeAndStreamed(string choice, float? temperature, long? seed)
    {
        ChatResponse expected = await _reference.GetResponseAsync(Question, new ChatOptions
        {
            Tools = [.. Functions], ToolMode = choice == "required" ? ChatToolMode.RequireAny : ChatToolMode.RequireSpecific(choice),
            MaxOutputTokens = 80, Temperature = temperature ?? 0, Seed = seed,
        });
        FunctionCallContent expectedCall = (FunctionCallContent)expected.Messages.Single().Contents.Single();

        var options = new ChatCompletionOptions
        {
            ToolChoice = choice == "required" ? ChatToolChoice.CreateRequiredChoice() : ChatToolChoice.CreateFunctionChoice(choice),
            MaxOutputTokenCount = 80, Temperature = temperature ?? 0,
        };
        foreach (ChatTool tool in SdkTools)
            options.Tools.Add(tool);
#pragma warning disable OPENAI001 // Seed is experimental in the SDK
        options.Seed = seed;
#pragma warning restore OPENAI001
        ChatClient chat = _openAI.GetChatClient(ModelId);
        ChatCompletion completion = await chat.CompleteChatAsync(SdkQuestion, options);

        Assert.AreEqual(SdkChatFinishReason.ToolCalls, completion.FinishReason);
        Assert.AreEqual(0, completion.Content.Count, "a call alone has no text");
        ChatToolCall call = completion.ToolCalls.Single();
        Assert.AreEqual(expectedCall.Name, call.FunctionName);
        Assert.AreEqual(Canonical(expectedCall.Arguments), Canonical(call.FunctionArguments.ToString()));
        StringAssert.StartsWith(call.Id, "call_");
        Assert.AreEqual(expected.Usage!.InputTokenCount, completion.Usage.InputTokenCount, "the server read the tools in the same prompt");
        string schema = call.FunctionName == "get_time" ? TimeSchema : WeatherSchema;
        Assert.IsTrue(JsonSchema.FromText(schema).Evaluate(JsonDocument.Parse(call.FunctionArguments.ToString()).RootElement).IsValid);

        var streamedArguments = new StringBuilder();
        string? streamedName = null, streamedId = null;
        SdkChatFinishReason? finish = null;
        var text = new StringBuilder();
        await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync(SdkQuestion, options))
        {
            foreach (StreamingChatToolCallUpdate part in update.ToolCallUpdates)
            {
                Assert.AreEqual(0, part.Index);
                streamedName ??= part.FunctionName;
                streamedId ??= part.ToolCallId;
                streamedArguments.Append(part.FunctionArgumentsUpdate?.ToString());
            }
            foreach (ChatMessageContentPart content in update.ContentUpdate)
                text.Append(content.Text);
            finish ??= update.FinishReason;
        }
        Assert.AreEqual("", text.ToString(), "the call's tags are not streamed as text");
        Assert.AreEqual(call.FunctionName, streamedName);
        Assert.AreEqual(Canonical(call.FunctionArguments.ToString()), Canonical(streamedArguments.ToString()));
        StringAssert.StartsWith(streamedId, "call_");
        Assert.AreEqual(SdkChatFinishReason.ToolCalls, finish);
    }

    [TestMethod]
    public async Task AJsonSchemaResponseFormatThroughTheSdkEqualsTheInProcessAnswerAndValidates()
    {
        foreach ((float temperature, long? seed) in new (float, long?)[] { (0, null), (1.0f, 21), (1.0f, 22) })
        {
            ChatResponse expected = await _reference.GetResponseAsync([new(ChatRole.User, "Describe Paris.")], new ChatOptions
            {
                ResponseFormat = AIChatResponseFormat.ForJsonSchema(JsonDocument.Parse(ReportSchema).RootElement, "city_report"),
                MaxOutputTokens = 200, Temperature = temperature, Seed = seed,
            });
            var options = new ChatCompletionOptions
            {
                ResponseFormat = SdkChatResponseFormat.CreateJsonSchemaFormat("city_report", BinaryData.FromString(ReportSchema), jsonSchemaIsStrict: true),
                MaxOutputTokenCount = 200, Temperature = temperature,
            };
#pragma warning disable OPENAI001
            options.Seed = seed;
#pragma warning restore OPENAI001
            ChatCompletion completion = await _openAI.GetChatClient(ModelId).CompleteChatAsync([new UserChatMessage("Describe Paris.")], options);

            string text = completion.Content.Single().Text;
            Assert.AreEqual(expected.Text, text);
            Assert.IsTrue(JsonSchema.FromText(ReportSchema).Evaluate(JsonDocument.Parse(text).RootElement).IsValid, text);
            Assert.AreEqual(SdkChatFinishReason.Stop, completion.FinishReason);
        }

        ChatCompletion anyObject = await _openAI.GetChatClient(ModelId).CompleteChatAsync([new UserChatMessage("Some JSON, please.")],
            new ChatCompletionOptions { ResponseFormat = SdkChatResponseFormat.CreateJsonObjectFormat(), MaxOutputTokenCount = 200, Temperature = 0 });
        string json = anyObject.Content.Single().Text;
        if (anyObject.FinishReason == SdkChatFinishReason.Stop)
            Assert.AreEqual(JsonValueKind.Object, JsonDocument.Parse(json).RootElement.ValueKind, json);
        else
            StringAssert.StartsWith(json, "{", "cut by the token limit, it is still the start of an object");
    }

    [TestMethod]
    public async Task AToolConversationSentBackIsRenderedAsTheInProcessClientRendersIt()
    {
        AIChatMessage[] conversation =
        [
            .. Question,
            new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_time", new Dictionary<string, object?> { ["zone"] = "CET", ["exact"] = true })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "12:00")]),
        ];
        ChatResponse expected = await _reference.GetResponseAsync(conversation, new ChatOptions { Tools = [.. Functions], MaxOutputTokens = 10, Temperature = 0 });

        OpenAI.Chat.ChatMessage[] sdkConversation =
        [
            .. SdkQuestion,
            new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall("call_1", "get_time", BinaryData.FromString("""{"zone":"CET","exact":true}"""))]),
            new ToolChatMessage("call_1", "12:00"),
        ];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 10, Temperature = 0 };
        foreach (ChatTool tool in SdkTools)
            options.Tools.Add(tool);
        ChatCompletion completion = await _openAI.GetChatClient(ModelId).CompleteChatAsync(sdkConversation, options);

        Assert.AreEqual(expected.Usage!.InputTokenCount, completion.Usage.InputTokenCount);
        Assert.IsTrue(completion.Usage.InputTokenCount > ((TextGenerationResult)(await _reference.GetResponseAsync(Question,
            new ChatOptions { Tools = [.. Functions], MaxOutputTokens = 1 })).RawRepresentation!).PromptTokenCount + 20, "the call and its result are in the prompt");
        Assert.AreEqual(expected.Text, string.Concat(completion.Content.Select(c => c.Text)));
    }

    public enum Zone { CET, UTC, PST }

    [TestMethod]
    public async Task MicrosoftExtensionsAIOverTheOpenAIAdapterRunsTheSameToolLoopAsInProcess()
    {
        async Task<(ChatResponse Response, List<string> Invoked)> Loop(IChatClient inner)
        {
            var invoked = new List<string>();
            AIFunction getTime = AIFunctionFactory.Create((Zone zone, bool exact) =>
            {
                invoked.Add($"{zone}/{exact}");
                return $"It is noon in {zone}.";
            }, "get_time", "The time in a zone.");
            // The zone is an enum, so that the random model's argument ends.
            var options = new ChatOptions { Tools = [getTime], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 60, Temperature = 0 };
            IChatClient loop = new ChatClientBuilder(inner).UseFunctionInvocation().Build();
            return (await loop.GetResponseAsync(Question, options), invoked);
        }

        (ChatResponse local, List<string> localInvoked) = await Loop(_reference);
        (ChatResponse remote, List<string> remoteInvoked) = await Loop(_openAI.GetChatClient(ModelId).AsIChatClient());

        Assert.AreEqual(1, localInvoked.Count, "the function was called once");
        CollectionAssert.AreEqual(localInvoked, remoteInvoked, "the same call reached the function");
        CollectionAssert.AreEqual(local.Messages.Select(m => m.Role).ToArray(), remote.Messages.Select(m => m.Role).ToArray());
        Assert.AreEqual(local.Messages[^1].Text, remote.Messages[^1].Text, "the same answer after the tool's result");
    }

    [TestMethod]
    [DataRow("""{"tools":[T],"tool_choice":{"type":"function","function":{"name":"get_date"}}}""", "tool_choice", DisplayName = "unknown function")]
    [DataRow("""{"tool_choice":"required"}""", "tool_choice", DisplayName = "required without tools")]
    [DataRow("""{"tools":[{"type":"function","function":{"name":"bad name!"}}]}""", "tools[0].function.name", DisplayName = "bad function name")]
    [DataRow("""{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}}}],"tool_choice":"required"}""", "tools", DisplayName = "unsupported schema keyword in a required tool")]
    [DataRow("""{"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"string","pattern":"a+"}}}}""", "response_format", DisplayName = "unsupported schema keyword")]
    [DataRow("""{"response_format":{"type":"json_schema"}}""", "response_format.json_schema", DisplayName = "json_schema missing")]
    [DataRow("""{"response_format":{"type":"yaml"}}""", "response_format", DisplayName = "unknown format")]
    [DataRow("""{"tools":[T],"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"get_time","arguments":"{zone"}}]}]}""", "messages[1].tool_calls[0].function.arguments", DisplayName = "malformed arguments")]
    [DataRow("""{"tools":[T],"messages":[{"role":"user","content":"hi"},{"role":"tool","content":"12:00"}]}""", "messages[1].tool_call_id", DisplayName = "tool message without id")]
    public async Task BadToolAndFormatFieldsGet400NamingTheField(string fields, string param)
    {
        JsonObject body = JsonNode.Parse($$"""{"model":"{{ModelId}}","messages":[{"role":"user","content":"hi"}],"max_tokens":4}""")!.AsObject();
        foreach ((string name, JsonNode? value) in JsonNode.Parse(fields.Replace("[T]", $"[{{\"type\":\"function\",\"function\":{{\"name\":\"get_time\",\"parameters\":{TimeSchema}}}}}]", StringComparison.Ordinal))!.AsObject())
            body[name] = value?.DeepClone();

        (int status, JsonElement json) = await _http.PostAsync(body.ToJsonString());

        Assert.AreEqual(400, status, json.ToString());
        JsonElement error = json.GetProperty("error");
        Assert.AreEqual("invalid_request_error", error.GetProperty("type").GetString());
        Assert.AreEqual(param, error.GetProperty("param").GetString(), error.GetProperty("message").GetString());
    }
}
