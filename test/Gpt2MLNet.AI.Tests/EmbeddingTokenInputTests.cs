using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// <see cref="Gpt2EmbeddingGenerator.GenerateFromTokensAsync"/>: token lists embed as the texts they tokenize from
/// (<see cref="Gpt2EmbeddingGenerator.Tokenize"/>), batched the same way, and a list the text path would cut is refused.
/// </summary>
[TestClass]
public sealed class EmbeddingTokenInputTests
{
    private static readonly string[] Texts = ["in the of and to", "a the", "is it on the", "in"];
    private static Gpt2Model _model = null!;

    [ClassInitialize]
    public static void LoadFixture(TestContext _) => _model = Gpt2Checkpoint.Load(TinyModels.FixturePath, CPU);

    [ClassCleanup]
    public static void Release() => _model.Dispose();

    [TestMethod]
    public async Task TokenListsEmbedAsTheirTextsWithTheSameUsage()
    {
        // A batch size of 3 splits the four inputs into two batches, so the lists' order across batches is checked too.
        using var generator = new Gpt2EmbeddingGenerator(_model, normalize: true, batchSize: 3);
        GeneratedEmbeddings<Embedding<float>> fromTexts = await generator.GenerateAsync(Texts);
        GeneratedEmbeddings<Embedding<float>> fromTokens = await generator.GenerateFromTokensAsync([.. Texts.Select(generator.Tokenize)]);

        Assert.AreEqual(Texts.Length, fromTokens.Count);
        for (int i = 0; i < Texts.Length; i++)
            CollectionAssert.AreEqual(fromTexts[i].Vector.ToArray(), fromTokens[i].Vector.ToArray(), Texts[i]);
        Assert.AreEqual(fromTexts.Usage!.InputTokenCount, fromTokens.Usage!.InputTokenCount);
    }

    [TestMethod]
    public async Task AListLongerThanTheContextOrEmptyOrOutsideTheVocabularyIsRefusedNamingIt()
    {
        using var generator = new Gpt2EmbeddingGenerator(_model);
        int context = _model.Config.ContextLength, vocabulary = _model.Config.VocabSize;
        var tooLong = await Assert.ThrowsExactlyAsync<ArgumentException>(() =>
            generator.GenerateFromTokensAsync([[1, 2], [.. Enumerable.Repeat(5, context + 1)]]));
        StringAssert.Contains(tooLong.Message, "Token list 1");
        StringAssert.Contains(tooLong.Message, $"{context}");
        await Assert.ThrowsExactlyAsync<ArgumentException>(() => generator.GenerateFromTokensAsync([[1], []]));
        await Assert.ThrowsExactlyAsync<ArgumentOutOfRangeException>(() => generator.GenerateFromTokensAsync([[1, vocabulary]]));
        await Assert.ThrowsExactlyAsync<NotSupportedException>(() =>
            generator.GenerateFromTokensAsync([[1]], new EmbeddingGenerationOptions { Dimensions = _model.Config.EmbeddingSize + 1 }));
    }
}
