using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Gpt2.Torch.Tests;

/// <summary>The decoder with past/present keys and values inside ONNX Runtime's GreedySearch, against Gpt2Generator and the fixture.</summary>
[TestClass]
public sealed class OnnxGreedySearchTests : TemporaryDirectoryTest
{
    private static ReferenceFixture Fixture => ReferenceFixture.Shared;

    [TestMethod]
    public void GreedySearchReproducesTheReferenceContinuationAndGpt2Generator()
    {
        int[] prompt = Fixture.Tokens("greedy.prompt");
        int[] expected = Fixture.Tokens("greedy.output");
        int[] generated = new Gpt2Generator(Fixture.Model).Generate(prompt, new GenerationOptions { MaxNewTokens = expected.Length - prompt.Length });
        string path = Path.Combine(Directory, "greedy.onnx");
        Gpt2OnnxExporter.ExportGreedySearch(Fixture.Model, path);

        int[][] sequences = Generate(path, [prompt], expected.Length);

        CollectionAssert.AreEqual(expected, generated, "Gpt2Generator against the reference");
        CollectionAssert.AreEqual(expected, sequences[0], "GreedySearch against the reference");
    }

    [TestMethod]
    public void LeftPaddedPromptsContinueAsEachPromptAlone()
    {
        const int pad = 999, maxLength = 20;
        int[][] prompts = [[5, 17, 300, 42, 8, 9, 100], [64, 2, 71]];
        var generator = new Gpt2Generator(Fixture.Model);
        string path = Path.Combine(Directory, "greedy.onnx");
        Gpt2OnnxExporter.ExportGreedySearch(Fixture.Model, path, padTokenId: pad);
        int[][] padded = [.. prompts.Select(prompt => Enumerable.Repeat(pad, prompts[0].Length - prompt.Length).Concat(prompt).ToArray())];

        int[][] sequences = Generate(path, padded, maxLength);

        for (int row = 0; row < prompts.Length; row++)
        {
            int[] alone = generator.Generate(prompts[row], new GenerationOptions { MaxNewTokens = maxLength - prompts[0].Length });
            CollectionAssert.AreEqual(padded[row].Concat(alone.Skip(prompts[row].Length)).ToArray(), sequences[row], $"row {row}");
        }
    }

    private static int[][] Generate(string path, int[][] prompts, int maxLength)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(path, options);
        using var ids = OrtValue.CreateTensorValueFromMemory(prompts.SelectMany(prompt => prompt).ToArray(), [prompts.Length, prompts[0].Length]);
        using var length = OrtValue.CreateTensorValueFromMemory(new[] { maxLength }, [1]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [Gpt2OnnxNames.InputIds, Gpt2OnnxNames.MaxLength], [ids, length], [Gpt2OnnxNames.Sequences]);
        CollectionAssert.AreEqual(new long[] { prompts.Length, maxLength }, outputs[0].GetTensorTypeAndShape().Shape);
        int[] flat = outputs[0].GetTensorDataAsSpan<int>().ToArray();
        return [.. flat.Chunk(maxLength)];
    }
}
