#pragma warning disable OPENAI001 // The Responses client is marked experimental in the OpenAI SDK.
using System.ClientModel;
using System.Text;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Gpt2MLNet.AI.Tests;
using Json.Schema;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Responses;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Gpt2Server.Tests;

/// <summary>
/// Function calling on <c>POST /v1/responses</c> with a model whose chat template renders tools (a tiny random Qwen3,
/// <see cref="TinyQwenModel"/>): a required call comes out as a <c>function_call</c> item equal to the in-process
/// <see cref="Gpt2ChatClient"/>'s call (its arguments valid against the function's schema by JsonSchema.Net), whole,
/// streamed, and through Microsoft.Extensions.AI's IChatClient over the SDK's ResponsesClient, which also sends the call
/// and its output back as <c>function_call</c> and <c>function_call_output</c> items.
/// </summary>
[TestClass]
public sealed class ResponsesToolTests
{
    private const string ModelId = "tiny-qwen3-tools";
    private const string WeatherSchema = """
        {"type":"object","properties":{"city":{"type":"string","enum":["Oslo","Lima"]},"days":{"type":"integer","enum":[1,2,3]}},
         "required":["city","days"],"additionalProperties":false}
        """;

    private static readonly AIFunctionDeclaration Weather =
        AIFunctionFactory.CreateDeclaration("get_weather", "The weather in a city.", JsonDocument.Parse(WeatherSchema).RootElement);

    private static FolderModelServer _server = null!;
    private static OpenAIClient _openAI = null!;
    private static Gpt2ChatClient _reference = null!;
    private static Uri _baseAddress = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await FolderModelServer.StartAsync(ModelId, folder => TinyQwenModel.Write(folder));
        _baseAddress = _server.BaseAddress;
        _openAI = _server.OpenAI;
        _reference = _server.Reference;
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
    }

    private static async Task<FunctionCallContent> ExpectedCallAsync(string question, int maxTokens)
    {
        ChatResponse expected = await _reference.GetResponseAsync([new AIChatMessage(ChatRole.User, question)],
            new ChatOptions { MaxOutputTokens = maxTokens, Tools = [Weather], ToolMode = ChatToolMode.RequireSpecific("get_weather") });
        return expected.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Single();
    }

    private static string Json(IDictionary<string, object?>? arguments) => JsonSerializer.Serialize(arguments, AIJsonUtilities.DefaultOptions);

    private static void AssertValid(string arguments) =>
        Assert.IsTrue(JsonSchema.FromText(WeatherSchema).Evaluate(JsonDocument.Parse(arguments).RootElement).IsValid, $"JsonSchema.Net validates {arguments}");

    private static CreateResponseOptions Request(string question, int maxTokens, bool stream = false)
    {
        var options = new CreateResponseOptions(ModelId, [ResponseItem.CreateUserMessageItem(question)])
        {
            MaxOutputTokenCount = maxTokens,
            ToolChoice = ResponseToolChoice.CreateFunctionChoice("get_weather"),
            StreamingEnabled = stream ? true : null,
        };
        options.Tools.Add(ResponseTool.CreateFunctionTool("get_weather", BinaryData.FromString(WeatherSchema), strictModeEnabled: true, "The weather in a city."));
        return options;
    }

    [TestMethod]
    public async Task ARequiredCallIsAFunctionCallItemEqualToTheChatClientsCall()
    {
        FunctionCallContent expected = await ExpectedCallAsync("Weather in Oslo?", 60);

        ResponseResult response = await _openAI.GetResponsesClient().CreateResponseAsync(Request("Weather in Oslo?", 60));

        var call = (FunctionCallResponseItem)response.OutputItems.Single(item => item is FunctionCallResponseItem);
        Assert.AreEqual("get_weather", call.FunctionName);
        Assert.IsFalse(string.IsNullOrEmpty(call.CallId));
        string arguments = call.FunctionArguments.ToString();
        AssertValid(arguments);
        Assert.AreEqual(Json(expected.Arguments), Json(JsonSerializer.Deserialize<Dictionary<string, object?>>(arguments)));
        Assert.AreEqual(ResponseStatus.Completed, response.Status);
    }

    [TestMethod]
    public async Task AStreamedCallComesAsItemAddedArgumentsAndItemDone()
    {
        FunctionCallContent expected = await ExpectedCallAsync("Weather in Lima?", 60);
        string? arguments = null;
        var kinds = new List<string>();
        await foreach (StreamingResponseUpdate update in _openAI.GetResponsesClient().CreateResponseStreamingAsync(Request("Weather in Lima?", 60, stream: true)))
        {
            kinds.Add(update.GetType().Name);
            if (update is StreamingResponseFunctionCallArgumentsDoneUpdate done)
                arguments = done.FunctionArguments.ToString();
        }
        Assert.IsNotNull(arguments, string.Join(", ", kinds));
        AssertValid(arguments);
        Assert.AreEqual(Json(expected.Arguments), Json(JsonSerializer.Deserialize<Dictionary<string, object?>>(arguments)));

        using var http = new HttpClient { BaseAddress = _baseAddress };
        string tool = """{"type":"function","name":"get_weather","parameters":""" + WeatherSchema + "}";
        using var content = new StringContent($$$"""
            {"model":"{{{ModelId}}}","input":"Weather in Lima?","max_output_tokens":60,"stream":true,
             "tools":[{{{tool}}}],"tool_choice":{"type":"function","name":"get_weather"}}
            """, Encoding.UTF8, "application/json");
        string body = await (await http.PostAsync("v1/responses", content)).Content.ReadAsStringAsync();
        string[] names = [.. body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(block => block.Split('\n')[0]["event: ".Length..])];
        int call = Array.IndexOf(names, "response.function_call_arguments.delta");
        Assert.IsTrue(call > 0, body);
        CollectionAssert.AreEqual(new[] { "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done" },
            names[(call - 1)..(call + 3)], body);
        Assert.AreEqual("response.completed", names[^1]);
    }

    [TestMethod]
    public async Task ExtensionsAIChatClientOverTheResponsesClientCallsAndSendsTheResultBack()
    {
        AIChatMessage[] question = [new AIChatMessage(ChatRole.User, "Weather in Oslo?")];
        var options = new ChatOptions { MaxOutputTokens = 60, Tools = [Weather], ToolMode = ChatToolMode.RequireSpecific("get_weather") };
        using IChatClient remote = _openAI.GetResponsesClient().AsIChatClient(ModelId);

        ChatResponse local = await _reference.GetResponseAsync(question, options);
        ChatResponse response = await remote.GetResponseAsync(question, options);
        FunctionCallContent expectedCall = local.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Single();
        FunctionCallContent call = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Single();
        Assert.AreEqual(expectedCall.Name, call.Name);
        Assert.AreEqual(Json(expectedCall.Arguments), Json(call.Arguments));

        // The call and its result go back as function_call and function_call_output items; the answer is the chat client's for the same history.
        var followUp = new ChatOptions { MaxOutputTokens = 12, Tools = [Weather], ToolMode = ChatToolMode.None };
        AIChatMessage[] history = [.. question, new AIChatMessage(ChatRole.Assistant, [new FunctionCallContent(call.CallId, call.Name, call.Arguments)]),
            new AIChatMessage(ChatRole.Tool, [new FunctionResultContent(call.CallId, "Sunny, 21 degrees.")])];
        ChatResponse expected = await _reference.GetResponseAsync(history, followUp);
        ChatResponse answer = await remote.GetResponseAsync(history, followUp);
        Assert.AreEqual(expected.Text, answer.Text);
        Assert.AreEqual(expected.Usage!.InputTokenCount, answer.Usage!.InputTokenCount);
    }
}
