#pragma warning disable OPENAI001 // The Responses client is marked experimental in the OpenAI SDK.
using System.ClientModel;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Tests;
using Gpt2MLNet.AI;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Responses;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Gpt2Server.Tests;

/// <summary>
/// The Responses API and embeddings with <c>--model</c> a Llama-family folder whose ChatML template renders the prompt
/// (<see cref="TinyFamilyModel"/>): the Responses text equals the in-process chat client's over the same template, and
/// the embeddings equal the in-process generator's, which tokenizes with the family's own tokenizer.
/// </summary>
[TestClass]
public sealed class FamilyModelEndpointsTests
{
    private const string ModelId = "tiny-smollm2-endpoints";
    private static FolderModelServer _server = null!;
    private static OpenAIClient _openAI = null!;
    private static Gpt2ChatClient _reference = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await FolderModelServer.StartAsync(ModelId, folder => TinyFamilyModel.Write(folder));
        _openAI = _server.OpenAI;
        _reference = _server.Reference;
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
    }

    [TestMethod]
    public async Task ResponsesOverTheModelsTemplateEqualTheInProcessChatClient()
    {
        AIChatMessage[] conversation = [new(ChatRole.User, "What is the weather in the north?")];
        var options = new ChatOptions { Instructions = "Be brief.", MaxOutputTokens = 12 };
        ChatResponse expected = await _reference.GetResponseAsync(conversation, options);

        var request = new CreateResponseOptions(ModelId, [ResponseItem.CreateUserMessageItem("What is the weather in the north?")])
        {
            Instructions = "Be brief.",
            MaxOutputTokenCount = 12,
        };
        ResponseResult response = await _openAI.GetResponsesClient().CreateResponseAsync(request);

        Assert.AreEqual(expected.Text, response.GetOutputText());
        Assert.AreEqual(expected.Usage!.InputTokenCount, response.Usage.InputTokenCount);
        Assert.AreEqual(expected.Usage.OutputTokenCount, response.Usage.OutputTokenCount);

        using IChatClient client = _openAI.GetResponsesClient().AsIChatClient(ModelId);
        Assert.AreEqual(expected.Text, (await client.GetResponseAsync(conversation, options)).Text);
    }

    [TestMethod]
    public async Task EmbeddingsEqualTheInProcessGenerator()
    {
        using var generator = new Gpt2EmbeddingGenerator(_reference.Service.Host, EmbeddingPooling.Mean, normalize: true);
        string[] texts = ["north wind", "south sea"];
        GeneratedEmbeddings<Embedding<float>> expected = await generator.GenerateAsync(texts);

        using IEmbeddingGenerator<string, Embedding<float>> remote = _openAI.GetEmbeddingClient(ModelId).AsIEmbeddingGenerator();
        GeneratedEmbeddings<Embedding<float>> actual = await remote.GenerateAsync(texts);

        for (int i = 0; i < texts.Length; i++)
        {
            float[] e = expected[i].Vector.ToArray(), a = actual[i].Vector.ToArray();
            Assert.AreEqual(e.Length, a.Length);
            for (int j = 0; j < e.Length; j++)
                Assert.AreEqual(e[j], a[j], 1e-5f, $"text {i}, value {j}");
        }
        Assert.AreEqual(expected.Usage!.InputTokenCount, actual.Usage!.InputTokenCount);
    }
}
