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
    public void EachStepsLogitsEqualTheTorchSharpEnginesForALeftPaddedBatchPastTheContext()
    {
        int context = Fixture.Model.Config.ContextLength, kept = context / 2;
        // Rows of 3, 12 and context - 2 tokens, read in one left-padded prefill: the long one's window jumps within a few
        // steps (read again as a prefill and composed back), the middle row leaves halfway, and the others go on.
        int[][] prompts = [[5, 17, 300], [.. Enumerable.Range(0, 12).Select(i => (i * 53 + 7) % 1000)],
            [.. Enumerable.Range(0, context - 2).Select(i => (i * 37 + 11) % 1000)]];
        int steps = context + 6;
        List<int>[] rows = [.. prompts.Select(p => p.ToList())];
        var cached = new long[prompts.Length];
        using var session = OnnxRuntimeDecoderSession.Create(Fixture.Model, new OnnxRuntimeDecoding());
        using var inference = new InferenceScope(Fixture.Model);
        using var torch = new TorchContinuousBatchEngine(Fixture.Model);
        using var onnx = new OnnxRuntimeContinuousBatchEngine(session);
        IContinuousBatchEngine[] engines = [torch, onnx];

        // Both engines' logits for the same input; the tokens (TorchSharp's argmax) go to the rows.
        void TakeAndCompare(Tensor[] logits, int[] batchRows, string what)
        {
            double difference = (logits[1] - logits[0]).abs().max().item<float>();
            Assert.IsTrue(difference < 1e-4, $"{what}: largest logit difference {difference}");
            long[] tokens = logits[0].argmax(-1).data<long>().ToArray();
            for (int i = 0; i < batchRows.Length; i++)
                rows[batchRows[i]].Add((int)tokens[i]);
        }
        // Reads windows in one prefill per engine and composes the batch as `keptRows` (positions in `batch`) then `joining`.
        int[] Prefill(int[] batch, int[] keptRows, int[] joining, Func<int, int[]> window)
        {
            var caches = new List<IDisposable>();
            try
            {
                Tensor[] logits = [.. engines.Select(engine =>
                {
                    Tensor result = engine.Prefill([.. joining.Select(window)], out IDisposable cache);
                    caches.Add(cache);
                    return result;
                })];
                foreach (int row in joining)
                    cached[row] = window(row).Length;
                TakeAndCompare(logits, joining, $"prefill of rows {string.Join(", ", joining)}");
                int[] composed = [.. keptRows.Select(i => batch[i]), .. joining];
                for (int e = 0; e < engines.Length; e++)
                    engines[e].Compose(keptRows, [.. keptRows.Select(i => cached[batch[i]])], [.. joining.Select((_, j) => (caches[e], j))],
                        [.. joining.Select(row => cached[row])], composed.Max(row => cached[row]), context);
                return composed;
            }
            finally
            {
                foreach (IDisposable cache in caches)
                    cache.Dispose();
            }
        }

        int[] batch = Prefill([], [], [0, 1, 2], row => [.. rows[row].TakeLast(context)]);
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            int[] stays = [.. Enumerable.Range(0, batch.Length).Where(i => !(batch[i] == 1 && step == steps / 2) && cached[batch[i]] + 1 <= context)];
            int[] jumping = [.. batch.Where(row => cached[row] + 1 > context)];
            if (stays.Length < batch.Length)
                batch = jumping.Length > 0
                    ? Prefill(batch, stays, jumping, row => [.. rows[row].TakeLast(kept)])
                    : ComposeKept(batch, stays);
            Tensor[] logits = [.. engines.Select(engine => engine.Step([.. batch.Select(row => (long)rows[row][^1])], [.. batch.Select(row => cached[row])]))];
            foreach (int row in batch)
                cached[row]++;
            TakeAndCompare(logits, batch, $"step {step}");
        }
        Assert.IsFalse(batch.Contains(1), "the middle row left");

        int[] ComposeKept(int[] current, int[] stays)
        {
            foreach (IContinuousBatchEngine engine in engines)
                engine.Compose(stays, [.. stays.Select(i => cached[current[i]])], [], [], stays.Max(i => cached[current[i]]), context);
            return [.. stays.Select(i => current[i])];
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
        using var model = new Gpt2Model((Gpt2Config)Fixture.Model.Config);
        model.AddLoRA(new LoRAOptions { Rank = 2 });

        var adapted = Assert.ThrowsExactly<ArgumentException>(() => new Gpt2Generator(model, onnxRuntime: new OnnxRuntimeDecoding()));
        StringAssert.Contains(adapted.Message, "MergeLoRA");
        var threads = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2Generator(Fixture.Model, onnxRuntime: new OnnxRuntimeDecoding { Threads = 0 }));
        StringAssert.Contains(threads.Message, "Threads");
    }

    private static Tensor FirstLogits(OnnxRuntimeDecoding options, int[][] prompts)
    {
        using var session = OnnxRuntimeDecoderSession.Create(Fixture.Model, options);
        using var engine = new OnnxRuntimeContinuousBatchEngine(session);
        Tensor logits = engine.Prefill(prompts, out IDisposable cache);
        cache.Dispose();
        return logits;
    }
}
