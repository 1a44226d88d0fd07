using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// <see cref="LlamaOnnxGraph"/> run by ONNX Runtime against the float64 reference fixtures of the Llama family
/// (Fixtures/families: GQA tied llama, qwen2 biases MQA bf16, qwen3 q/k norm with head_dim != hidden / heads in fp16
/// shards, llama3 rope scaling untied).
/// </summary>
[TestClass]
public sealed class LlamaOnnxExportTests
{
    // The README's bound for a float32 implementation of the float64 reference (logits are O(1)).
    private const double Tolerance = 1e-4;

    private static float[] RunBuild(InferenceSession session, long[] ids, long[] mask, int rows)
    {
        int width = ids.Length / rows;
        using OrtValue idValue = OrtValue.CreateTensorValueFromMemory(ids, [rows, width]);
        using OrtValue maskValue = OrtValue.CreateTensorValueFromMemory(mask, [rows, width]);
        using var runOptions = new RunOptions();
        using IDisposableReadOnlyCollection<OrtValue> results = session.Run(runOptions, ["input_ids", "attention_mask"], [idValue, maskValue], ["logits"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    // Largest |actual - expected| over the positions whose mask is 1 (expected and actual [rows, width, vocab] flattened).
    private static double LargestDifference(float[] actual, float[] expected, long[] mask, int vocab)
    {
        Assert.AreEqual(expected.Length, actual.Length, "logit count");
        double largest = 0;
        for (int position = 0; position < mask.Length; position++)
        {
            if (mask[position] == 0)
                continue;
            for (int v = 0; v < vocab; v++)
                largest = Math.Max(largest, Math.Abs(actual[position * vocab + v] - expected[position * vocab + v]));
        }
        return largest;
    }

    [TestMethod]
    [DataRow("tiny-llama")]
    [DataRow("tiny-qwen2")]
    [DataRow("tiny-qwen3")]
    [DataRow("tiny-llama3")]
    public void FullPassAndLeftPaddedBatchLogitsEqualTheReference(string name)
    {
        using var fixture = new LlamaOnnxFixture(name);
        using InferenceSession session = LlamaOnnxFixture.Session(LlamaOnnxGraph.Build(fixture.Shape, fixture.Parameter));
        int vocab = fixture.Shape.VocabSize;
        var cases = new List<(string Ids, string? Mask, string Logits)> { ("input_ids", null, "logits"), ("batch.input_ids", "batch.attention_mask", "batch.logits") };
        if (fixture.Expected.Tensors.ContainsKey("long.input_ids"))
            cases.Add(("long.input_ids", null, "long.logits"));
        foreach ((string idsName, string? maskName, string logitsName) in cases)
        {
            long[] ids = fixture.Ids(idsName);
            long[] mask = maskName is null ? [.. ids.Select(_ => 1L)] : fixture.Ids(maskName);
            int rows = (int)fixture.Expected.Tensors[idsName].Shape[0];
            float[] expected = fixture.Expected.ReadTensor(logitsName).data<float>().ToArray();

            double difference = LargestDifference(RunBuild(session, ids, mask, rows), expected, mask, vocab);

            Assert.IsTrue(difference < Tolerance, $"{name} {idsName}: largest logit difference {difference}");
        }
    }

    [TestMethod]
    [DataRow("tiny-llama")]
    [DataRow("tiny-qwen2")]
    [DataRow("tiny-qwen3")]
    [DataRow("tiny-llama3")]
    public void StepDecoderDrivenByHandReproducesTheGreedyContinuation(string name)
    {
        using var fixture = new LlamaOnnxFixture(name);
        using InferenceSession session = LlamaOnnxFixture.Session(LlamaOnnxGraph.BuildStepDecoder(fixture.Shape, fixture.Parameter, quantization: null));
        long[] prompt = fixture.Ids("greedy.prompt"), expected = fixture.Ids("greedy.output");
        using var run = new StepDecoderRun(session, fixture.Shape);

        var tokens = new List<long>(prompt);
        float[] logits = run.Read(prompt);
        while (tokens.Count < expected.Length)
        {
            tokens.Add(StepDecoderRun.ArgMax(logits));
            logits = run.Read([tokens[^1]]);
        }

        CollectionAssert.AreEqual(expected, tokens.ToArray(), name);
    }

    [TestMethod]
    [DataRow("tiny-llama")]
    [DataRow("tiny-qwen2")]
    [DataRow("tiny-qwen3")]
    [DataRow("tiny-llama3")]
    public void StepDecoderReadsALeftPaddedBatchAsTheEngineFeedsIt(string name)
    {
        // The ONNX Runtime engine's contract: a left-padded prefill (mask 0 at padding, positions counting real tokens),
        // then steps whose mask covers the padded past and whose position is each row's real length.
        using var fixture = new LlamaOnnxFixture(name);
        using InferenceSession step = LlamaOnnxFixture.Session(LlamaOnnxGraph.BuildStepDecoder(fixture.Shape, fixture.Parameter, quantization: null));
        using InferenceSession full = LlamaOnnxFixture.Session(LlamaOnnxGraph.Build(fixture.Shape, fixture.Parameter));
        long[] ids = fixture.Ids("batch.input_ids"), mask = fixture.Ids("batch.attention_mask");
        float[] expected = fixture.Expected.ReadTensor("batch.logits").data<float>().ToArray();
        int rows = 2, width = ids.Length / rows, vocab = fixture.Shape.VocabSize, layers = fixture.Shape.Layers;
        int[] positions = [.. Enumerable.Range(0, ids.Length).Select(i => (int)Math.Max(0, mask[((i / width) * width)..(i + 1)].Sum() - 1))];
        string[] inputs = ["input_ids", "position_ids", "attention_mask", .. Enumerable.Range(0, layers).Select(l => $"past_{l}")];
        string[] outputs = ["logits", .. Enumerable.Range(0, layers).Select(l => $"present_{l}")];
        OrtValue[] empty = [.. Enumerable.Range(0, layers).Select(_ =>
            OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [2, rows, fixture.Shape.KeyValueHeads, 0, fixture.Shape.HeadDim]))];
        using var runOptions = new RunOptions();
        using OrtValue idValue = OrtValue.CreateTensorValueFromMemory(ids.Select(id => (int)id).ToArray(), [rows, width]);
        using OrtValue positionValue = OrtValue.CreateTensorValueFromMemory(positions, [rows, width]);
        using OrtValue maskValue = OrtValue.CreateTensorValueFromMemory(mask.Select(m => (int)m).ToArray(), [rows, width]);
        using IDisposableReadOnlyCollection<OrtValue> prefill = step.Run(runOptions, inputs, [idValue, positionValue, maskValue, .. empty], outputs);
        foreach (OrtValue value in empty)
            value.Dispose();
        float[] last = prefill[0].GetTensorDataAsSpan<float>().ToArray();
        for (int row = 0; row < rows; row++)
        {
            double difference = Enumerable.Range(0, vocab).Max(v => Math.Abs(last[row * vocab + v] - expected[((row + 1) * width - 1) * vocab + v]));
            Assert.IsTrue(difference < Tolerance, $"{name} prefill row {row}: largest logit difference {difference}");
        }

        // One step with each row's greedy token, against the full pass over the batch with that column appended.
        long[] next = [.. Enumerable.Range(0, rows).Select(row => (long)StepDecoderRun.ArgMax(last[(row * vocab)..((row + 1) * vocab)]))];
        long[] longerIds = [.. Enumerable.Range(0, rows).SelectMany(row => ids[(row * width)..((row + 1) * width)].Append(next[row]))];
        long[] longerMask = [.. Enumerable.Range(0, rows).SelectMany(row => mask[(row * width)..((row + 1) * width)].Append(1))];
        float[] reference = RunBuild(full, longerIds, longerMask, rows);
        using OrtValue stepIds = OrtValue.CreateTensorValueFromMemory(next.Select(id => (int)id).ToArray(), [rows, 1]);
        using OrtValue stepPositions = OrtValue.CreateTensorValueFromMemory(
            Enumerable.Range(0, rows).Select(row => (int)mask[(row * width)..((row + 1) * width)].Sum()).ToArray(), [rows, 1]);
        using OrtValue stepMask = OrtValue.CreateTensorValueFromMemory(longerMask.Select(m => (int)m).ToArray(), [rows, width + 1]);
        using IDisposableReadOnlyCollection<OrtValue> stepped = step.Run(runOptions, inputs, [stepIds, stepPositions, stepMask, .. prefill.Skip(1)], outputs);
        float[] logits = stepped[0].GetTensorDataAsSpan<float>().ToArray();
        for (int row = 0; row < rows; row++)
        {
            double difference = Enumerable.Range(0, vocab).Max(v => Math.Abs(logits[row * vocab + v] - reference[((row + 1) * (width + 1) - 1) * vocab + v]));
            Assert.IsTrue(difference < Tolerance, $"{name} step row {row}: largest logit difference {difference}");
        }
    }

    [TestMethod]
    public void StepDecoderRotatesAtPositionsPastTheOriginalContextOfLlama3Scaling()
    {
        using var fixture = new LlamaOnnxFixture("tiny-llama3");
        Assert.IsTrue(fixture.Shape.RopeScaling!.OriginalContextLength < 48);
        using InferenceSession session = LlamaOnnxFixture.Session(LlamaOnnxGraph.BuildStepDecoder(fixture.Shape, fixture.Parameter, quantization: null));
        long[] ids = fixture.Ids("long.input_ids");
        float[] expected = fixture.Expected.ReadTensor("long.logits").data<float>().ToArray();
        int vocab = fixture.Shape.VocabSize, prefill = 20;
        using var run = new StepDecoderRun(session, fixture.Shape);

        float[] logits = run.Read(ids[..prefill]);
        for (int position = prefill - 1; position < ids.Length; position++)
        {
            double difference = Enumerable.Range(0, vocab).Max(v => Math.Abs(logits[v] - expected[position * vocab + v]));
            Assert.IsTrue(difference < Tolerance, $"position {position}: largest logit difference {difference}");
            if (position + 1 < ids.Length)
                logits = run.Read([ids[position + 1]]);
        }
    }

    [TestMethod]
    [DataRow("tiny-llama")]
    [DataRow("tiny-qwen2")]
    [DataRow("tiny-qwen3")]
    [DataRow("tiny-llama3")]
    public void GreedySearchOperatorGeneratesTheGreedyContinuation(string name)
    {
        using var fixture = new LlamaOnnxFixture(name);
        long[] prompt = fixture.Ids("greedy.prompt"), expected = fixture.Ids("greedy.output");
        int newTokens = expected.Length - prompt.Length;
        using InferenceSession session = LlamaOnnxFixture.Session(
            LlamaOnnxGraph.BuildGreedySearch(fixture.Shape, fixture.Parameter, newTokens, endOfTextId: -1, padTokenId: -1));
        using OrtValue ids = OrtValue.CreateTensorValueFromMemory(prompt, [1, prompt.Length]);
        using OrtValue mask = OrtValue.CreateTensorValueFromMemory(prompt.Select(_ => 1L).ToArray(), [1, prompt.Length]);
        using var runOptions = new RunOptions();

        using IDisposableReadOnlyCollection<OrtValue> results = session.Run(runOptions, ["input_ids", "attention_mask"], [ids, mask], ["generated_ids"]);

        CollectionAssert.AreEqual(expected[prompt.Length..], results[0].GetTensorDataAsSpan<int>().ToArray().Select(id => (long)id).ToArray(), name);
    }

    [TestMethod]
    public void ClassifierHeadReadsEachRowsLastRealToken()
    {
        using var fixture = new LlamaOnnxFixture("tiny-qwen3");
        using var scope = NewDisposeScope();
        manual_seed(5);
        Tensor weight = randn(3, fixture.Shape.HiddenSize), bias = randn(3);
        using InferenceSession classifier = LlamaOnnxFixture.Session(LlamaOnnxGraph.Build(fixture.Shape, fixture.Parameter, weight, bias));
        long[] ids = fixture.Ids("batch.input_ids"), mask = fixture.Ids("batch.attention_mask");
        int width = ids.Length / 2;
        // Right-padding a left-padded batch's rows and cutting columns past the last real token must not change a row's classes.
        long[] rightIds = RightAligned(ids, mask, width), rightMask = RightAligned(mask, mask, width);

        float[] left = RunBuild(classifier, ids, mask, 2);
        Assert.AreEqual(6, left.Length, "[rows, classes]");
        using OrtValue idValue = OrtValue.CreateTensorValueFromMemory(rightIds, [2, width + 1]);
        using OrtValue maskValue = OrtValue.CreateTensorValueFromMemory(rightMask, [2, width + 1]);
        using var runOptions = new RunOptions();
        using IDisposableReadOnlyCollection<OrtValue> right = classifier.Run(runOptions, ["input_ids", "attention_mask"], [idValue, maskValue], ["logits"]);
        float[] rightLogits = right[0].GetTensorDataAsSpan<float>().ToArray();
        for (int i = 0; i < left.Length; i++)
            Assert.AreEqual(left[i], rightLogits[i], 1e-4, $"class logit {i}");
    }

    // Each row's real values moved to the front, then zeros: [rows, width + 1], one more column than the batch.
    private static long[] RightAligned(long[] values, long[] mask, int width)
    {
        var result = new List<long>();
        for (int row = 0; row < mask.Length / width; row++)
        {
            long[] real = [.. Enumerable.Range(row * width, width).Where(i => mask[i] == 1).Select(i => values[i])];
            result.AddRange(real);
            result.AddRange(Enumerable.Repeat(0L, width + 1 - real.Length));
        }
        return [.. result];
    }

    [TestMethod]
    [DataRow("{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}", "rope_type 'yarn'")]
    [DataRow("{\"model_type\":\"qwen2\",\"use_sliding_window\":true}", "use_sliding_window")]
    [DataRow("{\"model_type\":\"llama\",\"hidden_act\":\"gelu\"}", "hidden_act 'gelu'")]
    [DataRow("{\"model_type\":\"mistral\"}", "model_type 'mistral'")]
    public void ConfigsThatAskForAnotherComputationAreRefusedByField(string overrides, string named)
    {
        using var fixture = new LlamaOnnxFixture("tiny-llama");
        var config = System.Text.Json.Nodes.JsonNode.Parse(fixture.ConfigJson)!.AsObject();
        foreach (var field in System.Text.Json.Nodes.JsonNode.Parse(overrides)!.AsObject())
            config[field.Key] = field.Value?.DeepClone();

        var error = Assert.ThrowsExactly<NotSupportedException>(() => LlamaOnnxShape.FromConfigJson(config.ToJsonString()));

        StringAssert.Contains(error.Message, named);
    }
}
