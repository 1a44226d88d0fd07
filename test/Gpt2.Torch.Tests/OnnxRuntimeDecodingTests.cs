using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Gpt2Generator with <see cref="OnnxRuntimeDecoding"/>: the same windows, batches and stops as the TorchSharp engine,
/// checked against the fixture's reference continuation and, step by step, against the TorchSharp engine's logits.
/// </summary>
[TestClass]
public sealed class OnnxRuntimeDecodingTests
{
    private static ReferenceFixture Fixture => ReferenceFixture.Shared;

    [TestMethod]
    public void GreedyDecodingReproducesTheReferenceContinuation()
    {
        int[] prompt = Fixture.Tokens("greedy.prompt");
        int[] expected = Fixture.Tokens("greedy.output");
        using var generator = new Gpt2Generator(Fixture.Model, onnxRuntime: new OnnxRuntimeDecoding());

        int[] generated = generator.Generate(prompt, new GenerationOptions { MaxNewTokens = expected.Length - prompt.Length });

        Assert.IsTrue(generator.UsesOnnxRuntime);
        CollectionAssert.AreEqual(expected, generated);
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void EachStepsLogitsEqualTheTorchSharpEnginesForALeftPaddedBatchPastTheContext(bool useCache)
    {
        int context = Fixture.Model.Config.ContextLength;
        // Rows of 3, 12 and context - 2 tokens: the long one's window jumps within a few steps, the others' later.
        int[][] prompts = [[5, 17, 300], [.. Enumerable.Range(0, 12).Select(i => (i * 53 + 7) % 1000)],
            [.. Enumerable.Range(0, context - 2).Select(i => (i * 37 + 11) % 1000)]];
        int steps = context + 6;
        List<int>[] torchRows = [.. prompts.Select(p => p.ToList())], onnxRows = [.. prompts.Select(p => p.ToList())];
        var torchFinished = new bool[prompts.Length];
        var onnxFinished = new bool[prompts.Length];
        using var session = OnnxRuntimeDecoderSession.Create(Fixture.Model, new OnnxRuntimeDecoding());
        using var inference = new InferenceScope(Fixture.Model);
        using var torchDecoder = new BatchDecoder(Fixture.Model, torchRows, torchFinished, useCache, steps);
        using var onnxDecoder = new OnnxRuntimeBatchDecoder(session, onnxRows, onnxFinished, useCache);

        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            Tensor expected = torchDecoder.NextLogits();
            Tensor actual = onnxDecoder.NextLogits();
            Tensor live = tensor(torchFinished.Select(f => !f).ToArray());
            double difference = (actual - expected).abs().index(live).max().item<float>();   // finished rows' logits are ignored
            Assert.IsTrue(difference < 1e-4, $"step {step}: largest logit difference {difference}");
            Tensor next = expected.argmax(-1);
            long[] tokens = next.data<long>().ToArray();
            for (int row = 0; row < prompts.Length; row++)
            {
                if (torchFinished[row])
                    continue;
                torchRows[row].Add((int)tokens[row]);
                onnxRows[row].Add((int)tokens[row]);
            }
            // The middle row stops halfway: the others go on beside it.
            torchFinished[1] = onnxFinished[1] = step >= steps / 2;
            torchDecoder.Advance(next);
            onnxDecoder.Advance(next);
        }
    }

    [TestMethod]
    public void BatchedGreedyRowsAndStopsEqualTheTorchSharpEngines()
    {
        int[][] prompts = [[5, 17, 300, 42, 8, 9, 100], [64, 2, 71], [.. Enumerable.Range(0, 30).Select(i => (i * 29 + 3) % 1000)]];
        using var torch = new Gpt2Generator(Fixture.Model);
        using var onnx = new Gpt2Generator(Fixture.Model, onnxRuntime: new OnnxRuntimeDecoding { Threads = 1 });
        int stop = torch.Generate(prompts[1], new GenerationOptions { MaxNewTokens = 8 })[^3];
        var options = new GenerationOptions { MaxNewTokens = 40, StopSequences = [[stop]] };

        int[][] expected = torch.GenerateBatch(prompts, options);
        var streamed = new List<int>[prompts.Length];
        int[][] actual = onnx.GenerateBatch(prompts, options, (row, token) => (streamed[row] ??= []).Add(token));

        for (int row = 0; row < prompts.Length; row++)
        {
            CollectionAssert.AreEqual(expected[row], actual[row], $"row {row}");
            CollectionAssert.AreEqual(actual[row][prompts[row].Length..], streamed[row], $"row {row} streamed");
        }
        Assert.AreEqual(stop, actual[1][^1], "the second row stops at its end of text");
    }

    [TestMethod]
    public void SeededSamplingDrawsTheTorchSharpEnginesTokens()
    {
        int[] prompt = [5, 17, 300, 42];
        var options = new GenerationOptions { MaxNewTokens = 30, Temperature = 1.0, TopK = 50, Seed = 7 };
        using var torch = new Gpt2Generator(Fixture.Model);
        using var onnx = new Gpt2Generator(Fixture.Model, onnxRuntime: new OnnxRuntimeDecoding());

        int[] expected = torch.Generate(prompt, options);

        CollectionAssert.AreEqual(expected, onnx.Generate(prompt, options));
        CollectionAssert.AreNotEqual(expected, onnx.Generate(prompt, options with { Seed = 8 }), "another seed draws other tokens");
    }

    [TestMethod]
    public void QuantizedWeightsChangeTheLogitsByLessThanTheirQuantizationStep()
    {
        int[][] prompts = [[5, 17, 300, 42, 8, 9, 100]];
        using Tensor exact = FirstLogits(new OnnxRuntimeDecoding(), prompts);
        using Tensor int8 = FirstLogits(new OnnxRuntimeDecoding { WeightQuantization = OnnxWeightQuantization.Int8 }, prompts);
        using Tensor int4 = FirstLogits(new OnnxRuntimeDecoding { WeightQuantization = OnnxWeightQuantization.Int4 }, prompts);

        double range = (exact.max() - exact.min()).item<float>();
        double int8Error = (int8 - exact).abs().max().item<float>(), int4Error = (int4 - exact).abs().max().item<float>();
        Assert.IsTrue(int8Error > 0, "int8 weights change the logits (the option is applied)");
        Assert.IsTrue(int8Error < 0.05 * range, $"int8: largest error {int8Error} against a logit range of {range}");
        Assert.IsTrue(int4Error > int8Error && int4Error < 0.25 * range, $"int4: largest error {int4Error}, int8's {int8Error}, range {range}");
    }

    [TestMethod]
    public void ModelsWithUnmergedAdaptersAndBadThreadCountsAreRefusedByName()
    {
        using var model = new Gpt2Model(Fixture.Model.Config);
        model.AddLoRA(new LoRAOptions { Rank = 2 });

        var adapted = Assert.ThrowsExactly<ArgumentException>(() => new Gpt2Generator(model, onnxRuntime: new OnnxRuntimeDecoding()));
        StringAssert.Contains(adapted.Message, "MergeLoRA");
        var threads = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2Generator(Fixture.Model, onnxRuntime: new OnnxRuntimeDecoding { Threads = 0 }));
        StringAssert.Contains(threads.Message, "Threads");
    }

    [TestMethod]
    public void EngineNamesParseToTheirDecodingAndOthersAreRefusedNamingTheChoices()
    {
        Assert.IsNull(OnnxRuntimeDecoding.ParseEngine("torchsharp"));
        Assert.AreEqual(new OnnxRuntimeDecoding(), OnnxRuntimeDecoding.ParseEngine("ONNXRuntime"));
        Assert.AreEqual(OnnxWeightQuantization.Int8, OnnxRuntimeDecoding.ParseEngine("onnxruntime-int8")!.WeightQuantization);
        Assert.AreEqual(OnnxWeightQuantization.Int4, OnnxRuntimeDecoding.ParseEngine("onnxruntime-int4")!.WeightQuantization);
        var e = Assert.ThrowsExactly<ArgumentException>(() => OnnxRuntimeDecoding.ParseEngine("tensorrt"));
        StringAssert.Contains(e.Message, "torchsharp, onnxruntime, onnxruntime-int8, onnxruntime-int4");
    }

    private static Tensor FirstLogits(OnnxRuntimeDecoding options, int[][] prompts)
    {
        using var session = OnnxRuntimeDecoderSession.Create(Fixture.Model, options);
        using var decoder = new OnnxRuntimeBatchDecoder(session, [.. prompts.Select(p => p.ToList())], new bool[prompts.Length], useCache: true);
        return decoder.NextLogits();
    }
}
