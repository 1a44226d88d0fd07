using System.Diagnostics;
using System.Text;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>
/// The Llama family's ONNX Runtime step decoder (<see cref="LlamaOnnxGraph.BuildStepDecoder"/>) on a random model of
/// SmolLM2-135M's shape (30 layers, hidden 576, 9 query and 3 key/value heads of 64, MLP 1536, vocab 49152, tied):
/// greedy decoding tokens/s of one row, and of rows decoded together as one batch, float32 and int8.
/// </summary>
internal sealed class LlamaOnnxBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    private static readonly LlamaOnnxShape SmolLM2 = new("llama", VocabSize: 49152, ContextLength: 8192, HiddenSize: 576, Layers: 30, Heads: 9,
        KeyValueHeads: 3, HeadDim: 64, IntermediateSize: 1536, RmsNormEps: 1e-5, RopeTheta: 100000, RopeScaling: null, QkvBias: false,
        OutputBias: false, QueryKeyNorm: false, TiedHead: true);

    public void Run(int promptLength, int newTokens, int? threads, int[] batches)
    {
        var weights = new Dictionary<string, Tensor>();
        Tensor Parameter(string name)
        {
            if (!weights.TryGetValue(name, out Tensor? weight))
            {
                random.manual_seed(name.GetHashCode(StringComparison.Ordinal) & 0x7fffffff);
                weights[name] = weight = name.EndsWith("norm.weight", StringComparison.Ordinal) ? ones(SmolLM2.HiddenSize)
                    : name.Contains("_proj", StringComparison.Ordinal) || name.Contains("embed", StringComparison.Ordinal)
                        ? randn(ShapeOf(name)) * 0.02f : throw new KeyNotFoundException(name);
                // Made inside the exporter's dispose scope, kept for the second export.
                weight.DetachFromDisposeScope();
            }
            return weight;
        }
        try
        {
            foreach (OnnxWeightQuantization? quantization in new[] { null, OnnxWeightQuantization.Int8 })
            {
                var clock = Stopwatch.StartNew();
                byte[] bytes = LlamaOnnxGraph.BuildStepDecoder(SmolLM2, Parameter, quantization).ToArray();
                double exportSeconds = clock.Elapsed.TotalSeconds;
                string optimized = Path.Combine(Path.GetTempPath(), $"llama-bench-{Guid.NewGuid():N}.onnx");
                using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, OptimizedModelFilePath = optimized };
                if (threads is int count)
                    options.IntraOpNumThreads = count;
                using var session = new InferenceSession(bytes, options);
                int fusedNorms = CountOccurrences(File.ReadAllBytes(optimized), "SimplifiedLayerNormalization");
                File.Delete(optimized);
                foreach (int batch in batches)
                {
                    double tokensPerSecond = Decode(session, batch, promptLength, newTokens);
                    Report("llama-onnx", new
                    {
                        shape = "SmolLM2-135M", weights = quantization is null ? "float32" : $"int{quantization.Bits}", batch, prompt = promptLength,
                        new_tokens = newTokens, export_s = Math.Round(exportSeconds, 1), model_mb = Math.Round(bytes.Length / 1e6),
                        fused_rmsnorm_nodes = fusedNorms, tokens_per_s = Math.Round(tokensPerSecond, 1),
                        row_tokens_per_s = Math.Round(tokensPerSecond / batch, 1),
                    });
                }
            }
        }
        finally
        {
            foreach (Tensor weight in weights.Values)
                weight.Dispose();
        }
    }

    private static long[] ShapeOf(string name)
    {
        LlamaOnnxShape s = SmolLM2;
        int q = s.Heads * s.HeadDim, kv = s.KeyValueHeads * s.HeadDim;
        return name switch
        {
            "model.embed_tokens.weight" => [s.VocabSize, s.HiddenSize],
            _ when name.EndsWith("q_proj.weight", StringComparison.Ordinal) => [q, s.HiddenSize],
            _ when name.EndsWith("k_proj.weight", StringComparison.Ordinal) || name.EndsWith("v_proj.weight", StringComparison.Ordinal) => [kv, s.HiddenSize],
            _ when name.EndsWith("o_proj.weight", StringComparison.Ordinal) => [s.HiddenSize, q],
            _ when name.EndsWith("down_proj.weight", StringComparison.Ordinal) => [s.HiddenSize, s.IntermediateSize],
            _ => [s.IntermediateSize, s.HiddenSize],
        };
    }

    // Prefills `batch` rows of `promptLength` tokens, then times `newTokens` greedy steps: generated tokens (all rows) per second.
    private static double Decode(InferenceSession session, int batch, int promptLength, int newTokens)
    {
        LlamaOnnxShape s = SmolLM2;
        string[] inputs = ["input_ids", "position_ids", "attention_mask", .. Enumerable.Range(0, s.Layers).Select(l => $"past_{l}")];
        string[] outputs = ["logits", .. Enumerable.Range(0, s.Layers).Select(l => $"present_{l}")];
        using var runOptions = new RunOptions();
        OrtValue[] pasts = [.. Enumerable.Range(0, s.Layers).Select(_ =>
            OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [2, batch, s.KeyValueHeads, 0, s.HeadDim]))];
        int[] ids = [.. Enumerable.Range(0, batch * promptLength).Select(i => (i * 7919 + 13) % s.VocabSize)];
        int[] positions = [.. Enumerable.Range(0, batch * promptLength).Select(i => i % promptLength)];
        int length = 0, width = promptLength;
        var clock = new Stopwatch();
        for (int step = 0; step <= newTokens; step++)
        {
            if (step == 1)
                clock.Start();
            using OrtValue idValue = OrtValue.CreateTensorValueFromMemory(ids, [batch, width]);
            using OrtValue positionValue = OrtValue.CreateTensorValueFromMemory(positions, [batch, width]);
            using OrtValue maskValue = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1, batch * (length + width)).ToArray(), [batch, length + width]);
            IDisposableReadOnlyCollection<OrtValue> results = session.Run(runOptions, inputs, [idValue, positionValue, maskValue, .. pasts], outputs);
            ReadOnlySpan<float> logits = results[0].GetTensorDataAsSpan<float>();
            ids = new int[batch];
            for (int row = 0; row < batch; row++)
            {
                ReadOnlySpan<float> rowLogits = logits.Slice(row * s.VocabSize, s.VocabSize);
                int best = 0;
                for (int v = 1; v < rowLogits.Length; v++)
                    if (rowLogits[v] > rowLogits[best])
                        best = v;
                ids[row] = best;
            }
            results[0].Dispose();
            foreach (OrtValue past in pasts)
                past.Dispose();
            pasts = [.. results.Skip(1)];
            length += width;
            width = 1;
            positions = [.. Enumerable.Repeat(length, batch)];
        }
        clock.Stop();
        foreach (OrtValue past in pasts)
            past.Dispose();
        return batch * newTokens / clock.Elapsed.TotalSeconds;
    }

    private static int CountOccurrences(byte[] haystack, string needle)
    {
        byte[] pattern = Encoding.ASCII.GetBytes(needle);
        int count = 0;
        for (int i = haystack.AsSpan().IndexOf(pattern); i >= 0; )
        {
            count++;
            int next = haystack.AsSpan(i + 1).IndexOf(pattern);
            i = next < 0 ? -1 : i + 1 + next;
        }
        return count;
    }
}
