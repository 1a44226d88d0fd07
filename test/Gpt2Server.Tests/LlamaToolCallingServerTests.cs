#pragma warning disable OPENAI001 // Seed and the Responses client are marked experimental in the OpenAI SDK.
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
using OpenAI.Responses;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using SdkChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace Gpt2Server.Tests;

/// <summary>
/// Function calling on <c>/v1/chat/completions</c> and <c>/v1/responses</c> served from a tiny random Llama model with the
/// Llama 3 tokenizer and Llama 3.2's template (<see cref="TinyLlamaModel"/>: calls as bare JSON, vLLM's llama3_json),
/// called with the official OpenAI .NET SDK: every call equals the in-process <see cref="Gpt2ChatClient"/>'s, whole and
/// streamed, and validates (JsonSchema.Net); a text answer and a conversation with a call and its result come through.
/// </summary>
[TestClass]
public sealed class LlamaToolCallingServerTests
{
    private const string ModelId = "tiny-llama-tools";
    private static FolderModelServer _server = null!;
    private static OpenAIClient _openAI = null!;
    private static Gpt2ChatClient _reference = null!;

    private const string TimeSchema =
        """{"type":"object","properties":{"zone":{"type":"string","enum":["CET","UTC","PST"]},"exact":{"type":"boolean"}},"required":["zone","exact"],"additionalProperties":false}""";
    private const string WeatherSchema =
        """{"type":"object","properties":{"city":{"type":"string","maxLength":10},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","unit"],"additionalProperties":false}""";

    private static readonly AIFunctionDeclaration[] Functions =
    [
        AIFunctionFactory.CreateDeclaration("get_time", "The time in a zone.", JsonDocument.Parse(TimeSchema).RootElement),
        AIFunctionFactory.CreateDeclaration("get_weather", "The weather in a city.", JsonDocument.Parse(WeatherSchema).RootElement),
    ];

    private static readonly AIChatMessage[] Question = [new(ChatRole.System, "Use the tools."), new(ChatRole.User, "What time is it in Berlin?")];
    private static readonly OpenAI.Chat.ChatMessage[] SdkQuestion = [new SystemChatMessage("Use the tools."), new UserChatMessage("What time is it in Berlin?")];

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await FolderModelServer.StartAsync(ModelId, folder => TinyLlamaModel.Write(folder), "--engine", "torchsharp");
        _openAI = _server.OpenAI;
        _reference = _server.Reference;
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
    }

    private static string Canonical(string json) => JsonNode.Parse(json)!.ToJsonString();

    private static string Canonical(IDictionary<string, object?>? arguments) =>
        Canonical(JsonSerializer.Serialize(arguments, AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>))));

    private static ChatCompletionOptions SdkOptions(ChatToolChoice? choice, int maxTokens, float temperature, long? seed)
    {
        var options = new ChatCompletionOptions { ToolChoice = choice, MaxOutputTokenCount = maxTokens, Temperature = temperature, Seed = seed };
        options.Tools.Add(ChatTool.CreateFunctionTool("get_time", "The time in a zone.", BinaryData.FromString(TimeSchema)));
        options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "The weather in a city.", BinaryData.FromString(WeatherSchema)));
        return options;
    }

    [TestMethod]
    [DataRow("required", 0f, null)]
    [DataRow("get_weather", 1.0f, 5L)]
    public async Task RequiredCallsThroughTheOpenAISdkEqualTheInProcessClientsWholeAndStreamed(string choice, float temperature, long? seed)
    {
        ChatResponse expected = await _reference.GetResponseAsync(Question, new ChatOptions
        {
            Tools = [.. Functions], ToolMode = choice == "required" ? ChatToolMode.RequireAny : ChatToolMode.RequireSpecific(choice),
            MaxOutputTokens = 80, Temperature = temperature, Seed = seed,
        });
        FunctionCallContent expectedCall = (FunctionCallContent)expected.Messages.Single().Contents.Single();
        ChatCompletionOptions options = SdkOptions(choice == "required" ? ChatToolChoice.CreateRequiredChoice() : ChatToolChoice.CreateFunctionChoice(choice), 80, temperature, seed);
        ChatClient chat = _openAI.GetChatClient(ModelId);

        ChatCompletion completion = await chat.CompleteChatAsync(SdkQuestion, options);

        Assert.AreEqual(SdkChatFinishReason.ToolCalls, completion.FinishReason);
        Assert.AreEqual(0, completion.Content.Count, "a call alone has no text");
        ChatToolCall call = completion.ToolCalls.Single();
        Assert.AreEqual(expectedCall.Name, call.FunctionName);
        Assert.AreEqual(Canonical(expectedCall.Arguments), Canonical(call.FunctionArguments.ToString()));
        Assert.AreEqual(expected.Usage!.InputTokenCount, completion.Usage.InputTokenCount, "the server read the tools in the same prompt");
        string schema = call.FunctionName == "get_time" ? TimeSchema : WeatherSchema;
        Assert.IsTrue(JsonSchema.FromText(schema).Evaluate(JsonDocument.Parse(call.FunctionArguments.ToString()).RootElement).IsValid);

        var streamedArguments = new StringBuilder();
        string? streamedName = null;
        SdkChatFinishReason? finish = null;
        var text = new StringBuilder();
        await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync(SdkQuestion, options))
        {
            foreach (StreamingChatToolCallUpdate part in update.ToolCallUpdates)
            {
                streamedName ??= part.FunctionName;
                streamedArguments.Append(part.FunctionArgumentsUpdate?.ToString());
            }
            foreach (ChatMessageContentPart content in update.ContentUpdate)
                text.Append(content.Text);
            finish ??= update.FinishReason;
        }
        Assert.AreEqual("", text.ToString(), "the call's JSON is not streamed as text");
        Assert.AreEqual(call.FunctionName, streamedName);
        Assert.AreEqual(Canonical(call.FunctionArguments.ToString()), Canonical(streamedArguments.ToString()));
        Assert.AreEqual(SdkChatFinishReason.ToolCalls, finish);
    }

    [TestMethod]
    public async Task InAutoModeATextAnswerEqualsTheInProcessOneWholeAndStreamed()
    {
        ChatResponse expected = await _reference.GetResponseAsync(Question, new ChatOptions { Tools = [.. Functions], MaxOutputTokens = 16, Temperature = 0 });
        Assert.AreNotEqual(Microsoft.Extensions.AI.ChatFinishReason.ToolCalls, expected.FinishReason, "this random model does not call (else pick another seed)");
        ChatCompletionOptions options = SdkOptions(null, 16, 0, null);
        ChatClient chat = _openAI.GetChatClient(ModelId);

        ChatCompletion completion = await chat.CompleteChatAsync(SdkQuestion, options);
        Assert.AreEqual(expected.Text, completion.Content.Single().Text);
        Assert.AreEqual(0, completion.ToolCalls.Count);

        var text = new StringBuilder();
        await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync(SdkQuestion, options))
            foreach (ChatMessageContentPart content in update.ContentUpdate)
                text.Append(content.Text);
        Assert.AreEqual(expected.Text, text.ToString());
    }

    [TestMethod]
    public async Task ACallAndItsResultSentBackRenderAsTheInProcessClientRendersThem()
    {
        var arguments = new Dictionary<string, object?> { ["zone"] = "CET", ["exact"] = true };
        AIChatMessage[] history =
        [
            .. Question,
            new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_time", arguments)]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "12:00")]),
        ];
        ChatResponse expected = await _reference.GetResponseAsync(history, new ChatOptions { Tools = [.. Functions], MaxOutputTokens = 8, Temperature = 0 });
        StringAssert.Contains(_reference.Format.Render(history, new ChatOptions { Tools = [.. Functions] }),
            "{\"name\": \"get_time\", \"parameters\": {\"zone\": \"CET\", \"exact\": true}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n");

        OpenAI.Chat.ChatMessage[] sdkHistory =
        [
            .. SdkQuestion,
            new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall("call_1", "get_time", BinaryData.FromString("""{"zone":"CET","exact":true}"""))]),
            new ToolChatMessage("call_1", "12:00"),
        ];
        ChatCompletion completion = await _openAI.GetChatClient(ModelId).CompleteChatAsync(sdkHistory, SdkOptions(null, 8, 0, null));

        Assert.AreEqual(expected.Usage!.InputTokenCount, completion.Usage.InputTokenCount, "the same prompt");
        Assert.AreEqual(expected.Text, string.Concat(completion.Content.Select(c => c.Text)));
    }

    [TestMethod]
    public async Task ARequiredCallThroughTheResponsesApiIsAFunctionCallItemEqualToTheInProcessCall()
    {
        ChatResponse expected = await _reference.GetResponseAsync([new AIChatMessage(ChatRole.User, "Weather in Oslo?")],
            new ChatOptions { MaxOutputTokens = 60, Tools = [Functions[1]], ToolMode = ChatToolMode.RequireSpecific("get_weather") });
        FunctionCallContent expectedCall = expected.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Single();
        CreateResponseOptions Request(bool stream)
        {
            var options = new CreateResponseOptions(ModelId, [ResponseItem.CreateUserMessageItem("Weather in Oslo?")])
            {
                MaxOutputTokenCount = 60, ToolChoice = ResponseToolChoice.CreateFunctionChoice("get_weather"), StreamingEnabled = stream ? true : null,
            };
            options.Tools.Add(ResponseTool.CreateFunctionTool("get_weather", BinaryData.FromString(WeatherSchema), strictModeEnabled: true, "The weather in a city."));
            return options;
        }

        ResponseResult response = await _openAI.GetResponsesClient().CreateResponseAsync(Request(stream: false));
        var call = (FunctionCallResponseItem)response.OutputItems.Single(item => item is FunctionCallResponseItem);
        Assert.AreEqual("get_weather", call.FunctionName);
        Assert.AreEqual(Canonical(expectedCall.Arguments), Canonical(call.FunctionArguments.ToString()));
        Assert.IsTrue(JsonSchema.FromText(WeatherSchema).Evaluate(JsonDocument.Parse(call.FunctionArguments.ToString()).RootElement).IsValid);

        string? streamed = null;
        await foreach (StreamingResponseUpdate update in _openAI.GetResponsesClient().CreateResponseStreamingAsync(Request(stream: true)))
        {
            Assert.IsNotInstanceOfType<StreamingResponseOutputTextDeltaUpdate>(update, "the call's JSON is not streamed as text");
            if (update is StreamingResponseFunctionCallArgumentsDoneUpdate done)
                streamed = done.FunctionArguments.ToString();
        }
        Assert.IsNotNull(streamed);
        Assert.AreEqual(Canonical(expectedCall.Arguments), Canonical(streamed));
    }
}
