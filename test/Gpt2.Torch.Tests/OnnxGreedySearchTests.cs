using Gpt2.Torch.Generation;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Gpt2.Torch.Tests;

/// <summary>The decoder with past/present keys and values inside ONNX Runtime's GreedySearch, against Gpt2Generator and the fixture.</summary>
[TestClass]
public sealed class OnnxGreedySearchTests : TemporaryDirectoryTest
{
    private const int Pad = 999;

    private static ReferenceFixture Fixture => ReferenceFixture.Shared;

    [TestMethod]
    public void GreedySearchReproducesTheReferenceContinuationAndGpt2Generator()
    {
        int[] prompt = Fixture.Tokens("greedy.prompt");
        int[] expected = Fixture.Tokens("greedy.output");
        int newTokens = expected.Length - prompt.Length;
        int[] generated = new Gpt2Generator(Fixture.Model).Generate(prompt, new GenerationOptions { MaxNewTokens = newTokens });

        int[][] continuations = Generate(Export(newTokens), [prompt]);

        CollectionAssert.AreEqual(expected, generated, "Gpt2Generator against the reference");
        CollectionAssert.AreEqual(expected[prompt.Length..], continuations[0], "GreedySearch against the reference");
    }

    [TestMethod]
    public void LeftPaddedPromptsContinueAsEachPromptAlone()
    {
        const int newTokens = 13;
        int[][] prompts = [[5, 17, 300, 42, 8, 9, 100], [64, 2, 71]];

        int[][] continuations = Generate(Export(newTokens), prompts);

        for (int row = 0; row < prompts.Length; row++)
            CollectionAssert.AreEqual(Alone(prompts[row], newTokens), continuations[row], $"row {row}");
    }

    [TestMethod]
    public void PromptsKeepTheirLastTokensThatFitTheContextWithTheNewOnes()
    {
        const int newTokens = 12;
        int context = Fixture.Model.Config.ContextLength;
        int[] prompt = [.. Enumerable.Range(0, context - 4).Select(i => (i * 37 + 11) % 900)];

        int[][] continuations = Generate(Export(newTokens), [prompt]);

        CollectionAssert.AreEqual(Alone(prompt[^(context - newTokens)..], newTokens), continuations[0]);
    }

    [TestMethod]
    public void RowsThatEndEarlyArePaddedFromTheirEndOfTextOn()
    {
        int[][] prompts = [[5, 17, 300], [64, 2, 71, 8]];
        int[] free = Alone(prompts[0], 10);
        int endOfText = free[3], pad = free.Contains(998) ? 997 : 998;
        string path = Path.Combine(Directory, "stopping.onnx");
        Gpt2OnnxExporter.ExportGenerator(Fixture.Model, path, 10, endOfTextId: endOfText, padTokenId: pad);

        int[] continuation = Generate(path, prompts, pad)[0];

        int end = Array.IndexOf(free, endOfText);
        CollectionAssert.AreEqual(free[..end].Concat(Enumerable.Repeat(pad, 10 - end)).ToArray(), continuation,
            string.Join(", ", free) + " / " + string.Join(", ", continuation));
    }

    [TestMethod]
    public void SamplingRepeatsWithItsSeedVariesAcrossSeedsAndWithATinyTopPIsGreedy()
    {
        const int newTokens = 20;
        int[][] prompts = [[5, 17, 300, 42], [64, 2, 71, 8]];
        string Export(string name, OnnxSampling sampling)
        {
            string path = Path.Combine(Directory, name);
            Gpt2OnnxExporter.ExportGenerator(Fixture.Model, path, newTokens, padTokenId: Pad, sampling: sampling);
            return path;
        }

        int[][] seeded = Generate(Export("seed1.onnx", new OnnxSampling(Temperature: 1.5f, Seed: 1)), prompts);
        int[][] again = Generate(Export("seed1-again.onnx", new OnnxSampling(Temperature: 1.5f, Seed: 1)), prompts);
        int[][] other = Generate(Export("seed2.onnx", new OnnxSampling(Temperature: 1.5f, Seed: 2)), prompts);
        int[][] nucleusOfOne = Generate(Export("top.onnx", new OnnxSampling(Temperature: 1, TopP: 1e-6f, Seed: 3)), prompts);

        for (int row = 0; row < prompts.Length; row++)
        {
            CollectionAssert.AreEqual(seeded[row], again[row], $"row {row}, same seed");
            CollectionAssert.AreNotEqual(seeded[row], other[row], $"row {row}, another seed");
            CollectionAssert.AreNotEqual(Alone(prompts[row], newTokens), seeded[row], $"row {row} sampled at temperature 1.5 is not the greedy text");
            CollectionAssert.AreEqual(Alone(prompts[row], newTokens), nucleusOfOne[row], $"row {row}: top-p 1e-6 keeps only the most likely token");
        }
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Export("cold.onnx", new OnnxSampling(Temperature: 0)));
    }

    [TestMethod]
    public void MaxNewTokensMustLeaveRoomForAPrompt()
    {
        string path = Path.Combine(Directory, "never.onnx");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Gpt2OnnxExporter.ExportGenerator(Fixture.Model, path, Fixture.Model.Config.ContextLength));
        Assert.IsFalse(File.Exists(path));
    }

    [TestMethod]
    [DataRow("unscaled")]
    [DataRow("inverse_layer_idx")]
    [DataRow("unscaled_inverse_layer_idx")]
    [DataRow("tanh")]
    public void TheDecoderWithPastKeysAndValuesFollowsTheReferenceForConfigVariants(string variant)
    {
        using var model = ConfigVariantFixture.Load(variant, Directory);
        int[] prompt = ConfigVariantFixture.Tokens("greedy.prompt"), expected = ConfigVariantFixture.Tokens($"greedy.{variant}");
        string path = Path.Combine(Directory, $"{variant}.onnx");
        Gpt2OnnxExporter.ExportGenerator(model, path, expected.Length - prompt.Length);

        CollectionAssert.AreEqual(expected[prompt.Length..], Generate(path, [prompt])[0]);
    }

    private static int[] Alone(int[] prompt, int newTokens) =>
        new Gpt2Generator(Fixture.Model).Generate(prompt, new GenerationOptions { MaxNewTokens = newTokens })[prompt.Length..];

    private string Export(int newTokens)
    {
        string path = Path.Combine(Directory, $"greedy-{newTokens}.onnx");
        Gpt2OnnxExporter.ExportGenerator(Fixture.Model, path, newTokens, padTokenId: Pad);
        return path;
    }

    private static int[][] Generate(string path, int[][] prompts, int pad = Pad)
    {
        int width = prompts.Max(prompt => prompt.Length);
        long[] ids = [.. prompts.SelectMany(prompt => Enumerable.Repeat((long)pad, width - prompt.Length).Concat(prompt.Select(token => (long)token)))];
        long[] mask = [.. prompts.SelectMany(prompt => Enumerable.Repeat(0L, width - prompt.Length).Concat(Enumerable.Repeat(1L, prompt.Length)))];
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(path, options);
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [prompts.Length, width]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [prompts.Length, width]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [Gpt2OnnxNames.InputIds, Gpt2OnnxNames.AttentionMask], [idsValue, maskValue], [Gpt2OnnxNames.GeneratedIds]);
        long[] shape = outputs[0].GetTensorTypeAndShape().Shape;
        Assert.AreEqual(prompts.Length, shape[0]);
        return [.. outputs[0].GetTensorDataAsSpan<int>().ToArray().Chunk((int)shape[1])];
    }
}
