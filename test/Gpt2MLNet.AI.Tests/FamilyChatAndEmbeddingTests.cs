using System.Text;
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Templates;
using Gpt2.Torch.Tests;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// The chat client and the embedding generator over a Llama-family model folder with its own tokenizer and ChatML
/// template (<see cref="TinyFamilyModel"/>), loaded by path as a user would.
/// </summary>
[TestClass]
public sealed class FamilyChatAndEmbeddingTests
{
    private static string _folder = null!;

    [ClassInitialize]
    public static void WriteModel(TestContext _) => _folder = TinyFamilyModel.Write(Path.Combine(Path.GetTempPath(), "gpt2-family-ai-" + Guid.NewGuid().ToString("N")));

    [ClassCleanup]
    public static void Delete() => Directory.Delete(_folder, recursive: true);

    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "You answer briefly."),
        new(ChatRole.User, "What is the weather in the north?"),
        new(ChatRole.Assistant, "Rain."),
        new(ChatRole.User, "And in the south?"),
    ];

    [TestMethod]
    public async Task TheChatPromptIsTheModelsTemplateRenderedWithTheGenerationPromptAndItsTokensAsTheModelReadThem()
    {
        using var client = Gpt2ChatClient.Create(_folder, engine: DecodingEngine.TorchSharp);
        Assert.IsInstanceOfType<LlamaModel>(client.GetService(typeof(CausalLanguageModel)));
        var options = new ChatOptions { MaxOutputTokens = 8, Temperature = 0 };

        // The oracle: the template rendered directly, read with its special tokens, generated from as token ids.
        string rendered = ChatTemplate.Parse(TinyFamilyModel.ChatTemplate).Render(
            [.. Conversation.Select(m => new ChatTemplateMessage(m.Role.Value, m.Text))], addGenerationPrompt: true);
        StringAssert.EndsWith(rendered, "<|im_start|>user\nAnd in the south?<|im_end|>\n<|im_start|>assistant\n");
        int[] expectedIds = client.Service.Tokenizer.Encode(rendered, allowSpecialTokens: true);
        Assert.AreEqual(4 * 2 + 1, expectedIds.Count(id => id == TinyFamilyModel.TurnStartId || id == TinyFamilyModel.TurnEndId),
            "each turn's markers are single special tokens");
        TextGenerationResult expected = await client.Service.GenerateAsync(expectedIds, new GenerationOptions { MaxNewTokens = 8 });

        ChatResponse response = await client.GetResponseAsync(Conversation, options);
        var result = (TextGenerationResult)response.RawRepresentation!;
        Assert.AreEqual(expectedIds.Length, result.PromptTokenCount);
        Assert.AreEqual(expectedIds.Length, (int)response.Usage!.InputTokenCount!);
        Assert.AreEqual(expected.Text, response.Text);
        Assert.AreEqual(8, result.CompletionTokenCount);

        var streamed = new StringBuilder();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(Conversation, options))
            streamed.Append(update.Text);
        Assert.AreEqual(response.Text, streamed.ToString());

        // A different conversation gives a different prompt, so the equality above is not the same text from any prompt.
        ChatResponse other = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], options);
        Assert.AreNotEqual(result.PromptTokenCount, ((TextGenerationResult)other.RawRepresentation!).PromptTokenCount);
    }

    [TestMethod]
    public async Task EmbeddingsAreTheMeanOfTheModelsHiddenStatesOverTheTokenizersTokens()
    {
        string[] texts = ["The weather in the north", "Hi", "an answer is in there"];
        using var generator = Gpt2EmbeddingGenerator.Create(_folder, device: CPU);
        Assert.AreEqual(TinyFamilyModel.Config.EmbeddingSize, generator.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelDimensions);
        GeneratedEmbeddings<Embedding<float>> embeddings = await generator.GenerateAsync(texts);

        using CausalLanguageModel model = LanguageModelSource.Pretrained(_folder).Load(CPU);
        var tokenizer = TinyFamilyModel.LoadTokenizer();
        model.eval();
        for (int i = 0; i < texts.Length; i++)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            long[] ids = [.. tokenizer.Encode(texts[i]).Select(id => (long)id)];
            float[] mean = model.ComputeHiddenStates(tensor(ids, [1, ids.Length], int64))[0].mean([0]).data<float>().ToArray();
            float[] vector = embeddings[i].Vector.ToArray();
            Assert.AreEqual(TinyFamilyModel.Config.EmbeddingSize, vector.Length);
            for (int d = 0; d < mean.Length; d++)
                Assert.AreEqual(mean[d], vector[d], 1e-4, $"text {i}, dimension {d}");
        }
        Assert.AreEqual(texts.Sum(t => tokenizer.Encode(t).Length), (int)embeddings.Usage!.InputTokenCount!);
    }
}
