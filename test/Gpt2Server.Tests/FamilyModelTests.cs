using System.ClientModel;
using System.Text;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Tests;
using Gpt2MLNet.AI;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Gpt2Server.Tests;

/// <summary>
/// The server with <c>--model</c> a Llama-family folder with its own tokenizer and ChatML template
/// (<see cref="TinyFamilyModel"/>), called with the official OpenAI SDK: its answers equal the in-process chat client's
/// and the service's own.
/// </summary>
[TestClass]
public sealed class FamilyModelTests
{
    private const string ModelId = "tiny-smollm2";
    private static FolderModelServer _server = null!;
    private static string _folder = null!;
    private static OpenAIClient _openAI = null!;
    private static Gpt2ChatClient _reference = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await FolderModelServer.StartAsync(ModelId, folder => TinyFamilyModel.Write(folder));
        _folder = _server.Folder;
        _openAI = _server.OpenAI;
        _reference = _server.Reference;
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
    }

    [TestMethod]
    public async Task ModelsListsTheFolder()
    {
        OpenAI.Models.OpenAIModelCollection models = await _openAI.GetOpenAIModelClient().GetModelsAsync();
        CollectionAssert.AreEqual(new[] { ModelId }, models.Select(m => m.Id).ToArray());
    }

    [TestMethod]
    public async Task ChatCompletionsWholeAndStreamedEqualTheInProcessChatClientsAnswerOverTheModelsTemplate()
    {
        AIChatMessage[] conversation = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "What is the weather in the north?")];
        ChatResponse expected = await _reference.GetResponseAsync(conversation, new ChatOptions { MaxOutputTokens = 12, Temperature = 0 });
        var expectedResult = (TextGenerationResult)expected.RawRepresentation!;

        ChatClient chat = _openAI.GetChatClient(ModelId);
        OpenAI.Chat.ChatMessage[] messages = [new SystemChatMessage("Be brief."), new UserChatMessage("What is the weather in the north?")];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 };
        ChatCompletion completion = await chat.CompleteChatAsync(messages, options);
        Assert.AreEqual(expected.Text, completion.Content.Single().Text);
        Assert.AreEqual(expectedResult.PromptTokenCount, completion.Usage.InputTokenCount, "the server read the prompt as the chat template renders it");
        Assert.AreEqual(12, completion.Usage.OutputTokenCount);

        var streamed = new StringBuilder();
        await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (ChatMessageContentPart part in update.ContentUpdate)
                streamed.Append(part.Text);
        }
        Assert.AreEqual(expected.Text, streamed.ToString());
    }

    [TestMethod]
    public async Task CompletionsContinueThePlainTextAsTheServiceDoes()
    {
        const string prompt = "The weather in the north";
        TextGenerationResult expected = _reference.Service.Generate(prompt, new GenerationOptions { MaxNewTokens = 10 });
        using var http = new HttpClient { BaseAddress = _server.BaseAddress };
        using var content = new StringContent($$"""{"model":"{{ModelId}}","prompt":"{{prompt}}","max_tokens":10,"temperature":0}""", Encoding.UTF8, "application/json");
        HttpResponseMessage response = await http.PostAsync("v1/completions", content);
        string body = await response.Content.ReadAsStringAsync();
        Assert.IsTrue(response.IsSuccessStatusCode, body);
        using var json = System.Text.Json.JsonDocument.Parse(body);
        Assert.AreEqual(expected.Text, json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.AreEqual(expected.PromptTokenCount, json.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }
}
