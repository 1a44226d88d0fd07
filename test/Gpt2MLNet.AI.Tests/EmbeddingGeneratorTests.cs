using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI.Tests;

/// <summary><see cref="Gpt2EmbeddingGenerator"/> on the tiny reference fixture (vocabulary 1000: the texts use only its tokens).</summary>
[TestClass]
public sealed class EmbeddingGeneratorTests
{
    private static readonly string[] Texts = ["in the of and to", "a the", "is it on the", "in"];
    private static Gpt2Model _model = null!;

    [ClassInitialize]
    public static void LoadFixture(TestContext _)
    {
        _model = Gpt2Checkpoint.Load(TinyModels.FixturePath, CPU);
        foreach (string text in Texts)
            Assert.IsTrue(Gpt2Tokenizer.Default.Encode(text).All(id => id < 1000), $"'{text}' fits the fixture's vocabulary");
    }

    [ClassCleanup]
    public static void Release() => _model.Dispose();

    // The final hidden states of one text alone, computed directly: (tokens, embedding).
    private static float[][] HiddenStates(string text)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        _model.eval();
        long[] ids = [.. Gpt2Tokenizer.Default.Encode(text).Select(id => (long)id)];
        Tensor hidden = _model.ComputeHiddenStates(tensor(ids, [1, ids.Length], int64))[0];
        int size = (int)hidden.shape[1];
        float[] flat = hidden.data<float>().ToArray();
        return [.. Enumerable.Range(0, ids.Length).Select(t => flat[(t * size)..((t + 1) * size)])];
    }

    private static void AssertClose(float[] expected, ReadOnlyMemory<float> actual, string message)
    {
        Assert.AreEqual(expected.Length, actual.Length, message);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual.Span[i], 1e-5, $"{message}, dimension {i}");
    }

    [TestMethod]
    public async Task MeanPoolingIsTheMeanOfTheTextsFinalHiddenStates()
    {
        using var generator = new Gpt2EmbeddingGenerator(_model);
        GeneratedEmbeddings<Embedding<float>> embeddings = await generator.GenerateAsync(Texts);
        for (int i = 0; i < Texts.Length; i++)
        {
            float[][] states = HiddenStates(Texts[i]);
            float[] mean = [.. Enumerable.Range(0, states[0].Length).Select(d => states.Average(s => s[d]))];
            AssertClose(mean, embeddings[i].Vector, Texts[i]);
        }
        Assert.AreEqual(Texts.Sum(t => Gpt2Tokenizer.Default.Encode(t).Length), embeddings.Usage!.InputTokenCount);
    }

    [TestMethod]
    public async Task LastTokenPoolingIsTheLastTokensFinalHiddenState()
    {
        using var generator = new Gpt2EmbeddingGenerator(_model, EmbeddingPooling.LastToken);
        GeneratedEmbeddings<Embedding<float>> embeddings = await generator.GenerateAsync(Texts);
        for (int i = 0; i < Texts.Length; i++)
            AssertClose(HiddenStates(Texts[i])[^1], embeddings[i].Vector, Texts[i]);
    }

    [TestMethod]
    public async Task NormalizedVectorsAreTheMeanScaledToUnitLength()
    {
        using var plain = new Gpt2EmbeddingGenerator(_model);
        using var normalized = new Gpt2EmbeddingGenerator(_model, normalize: true);
        float[] mean = (await plain.GenerateVectorAsync(Texts[0])).ToArray();
        float[] unit = (await normalized.GenerateVectorAsync(Texts[0])).ToArray();
        double norm = Math.Sqrt(mean.Sum(v => (double)v * v));
        AssertClose([.. mean.Select(v => (float)(v / norm))], unit, "scaled mean");
        Assert.AreEqual(1.0, Math.Sqrt(unit.Sum(v => (double)v * v)), 1e-5);
    }

    [TestMethod]
    public async Task TheSameTextGivesTheSameVectorAndABatchEqualsTextsOneByOne()
    {
        using var generator = new Gpt2EmbeddingGenerator(_model, batchSize: 3);
        GeneratedEmbeddings<Embedding<float>> batch = await generator.GenerateAsync(Texts);
        for (int i = 0; i < Texts.Length; i++)
        {
            ReadOnlyMemory<float> alone = await generator.GenerateVectorAsync(Texts[i]);
            AssertClose(alone.ToArray(), batch[i].Vector, $"'{Texts[i]}' in a padded batch");
            CollectionAssert.AreEqual(alone.ToArray(), (await generator.GenerateVectorAsync(Texts[i])).ToArray(), "the same text, the same vector");
        }
        Assert.AreEqual(64, batch[0].Dimensions);
        Assert.AreEqual("gpt2", batch[0].ModelId);
    }

    [TestMethod]
    public async Task UnsupportedOptionsAndEmptyTextsAreRefused()
    {
        using var generator = new Gpt2EmbeddingGenerator(_model, modelId: "tiny");
        StringAssert.Contains((await Assert.ThrowsExactlyAsync<NotSupportedException>(() =>
            generator.GenerateAsync(Texts, new EmbeddingGenerationOptions { Dimensions = 16 }))).Message, "Dimensions");
        await Assert.ThrowsExactlyAsync<NotSupportedException>(() => generator.GenerateAsync(Texts, new EmbeddingGenerationOptions { ModelId = "other" }));
        await Assert.ThrowsExactlyAsync<ArgumentException>(() => generator.GenerateAsync(["in", ""]));
        EmbeddingGeneratorMetadata metadata = generator.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.AreEqual(64, metadata.DefaultModelDimensions);
        Assert.AreEqual("tiny", metadata.DefaultModelId);
    }
}
