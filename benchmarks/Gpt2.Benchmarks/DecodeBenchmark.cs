using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

internal sealed class DecodeBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    /// <summary>
    /// Greedy decoding of <paramref name="newTokens"/> tokens after prompts of each of <paramref name="promptLengths"/> tokens, one
    /// prompt and <paramref name="batchSizes"/> prompts together, with the KV cache: time to the first token (the prefill), then
    /// generated tokens per second after it (all rows together). The same model (random weights, seed 0) decodes in TorchSharp
    /// in each of <paramref name="precisions"/>, and in ONNX Runtime through the exported <c>GreedySearch</c> graph (float32;
    /// there the first token is a run of a graph exported for one new token). The first prompt length is also timed without
    /// the cache (float32, one prompt).
    /// </summary>
    public void Run(int[] promptLengths, int[] batchSizes, int newTokens, Precision[] precisions, int repeats = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        random.manual_seed(0);
        using var model = Config.CreateModel(Device);
        using var generator = new Gpt2Generator(model, Tokenizer);
        int[][] Prompts(int length, int batch) => [.. Enumerable.Range(0, batch).Select(row => Prompt(length, row))];
        // The median of `repeats` timings (first token, whole run) of `time`, after one untimed warm-up run.
        void ReportDecode(string engine, string precision, int batch, int prompt, bool kvCache, Func<(double First, double Total, int Generated)> time)
        {
            time();
            var runs = Enumerable.Range(0, repeats).Select(_ => time()).ToArray();
            int generatedPerRow = runs[0].Generated;
            Report("decode", new
            {
                engine, precision, batch, prompt, new_tokens = generatedPerRow, kv_cache = kvCache, repeats,
                tokens_per_s = Math.Round(Median(runs.Select(r => batch * (generatedPerRow - 1) / (r.Total - r.First))), 1),
                first_token_ms = Math.Round(1000 * Median(runs.Select(r => r.First))),
            });
        }
        // Gpt2Generator: the first token's time (the prefill), then the rest.
        void TimeGenerator(Gpt2Generator timed, string engine, string precision, int batch, int length, bool useCache)
        {
            int[][] prompts = Prompts(length, batch);
            // No stop at end-of-text, so that every run decodes exactly newTokens tokens.
            var options = new GenerationOptions { MaxNewTokens = newTokens, StopAtEndOfText = false };
            ReportDecode(engine, precision, batch, length, useCache, () =>
            {
                var clock = Stopwatch.StartNew();
                double firstToken = 0;
                int[][] output = timed.GenerateBatch(prompts, options, (_, _) => firstToken = firstToken == 0 ? clock.Elapsed.TotalSeconds : firstToken);
                return (firstToken, clock.Elapsed.TotalSeconds, output[0].Length - length);
            });
        }

        // ONNX Runtime first, while the weights are the float32 ones the TorchSharp rows start from.
        string directory = Path.Combine(Path.GetTempPath(), $"gpt2-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        try
        {
            string full = Path.Combine(directory, "generator.onnx"), single = Path.Combine(directory, "first-token.onnx");
            Gpt2OnnxExporter.ExportGenerator(model, full, newTokens);
            Gpt2OnnxExporter.ExportGenerator(model, single, 1);
            using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = get_num_threads() };
            using var fullSession = new InferenceSession(full, sessionOptions);
            using var singleSession = new InferenceSession(single, sessionOptions);
            foreach (int batch in batchSizes)
            {
                foreach (int length in promptLengths)
                {
                    long[] ids = [.. Prompts(length, batch).SelectMany(row => row.Select(id => (long)id))];
                    long[] mask = [.. Enumerable.Repeat(1L, ids.Length)];
                    using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [batch, length]);
                    using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [batch, length]);
                    using var runOptions = new RunOptions();
                    (double Seconds, int Generated) Run(InferenceSession session)
                    {
                        var clock = Stopwatch.StartNew();
                        using var outputs = session.Run(runOptions, [Gpt2OnnxNames.InputIds, Gpt2OnnxNames.AttentionMask], [idsValue, maskValue], [Gpt2OnnxNames.GeneratedIds]);
                        return (clock.Elapsed.TotalSeconds, (int)outputs[0].GetTensorTypeAndShape().Shape[1]);
                    }
                    ReportDecode("onnxruntime", "float32", batch, length, true, () =>
                    {
                        double first = Run(singleSession).Seconds;
                        (double total, int generated) = Run(fullSession);
                        return (first, total, generated);
                    });
                }
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }

        // Gpt2Generator's own loop with the forward passes in ONNX Runtime (a CPU engine), float32 and weight-only quantized.
        foreach ((string weights, OnnxWeightQuantization? quantization) in Device.type != DeviceType.CPU ? []
            : new[] { ("float32", (OnnxWeightQuantization?)null), ("int8", OnnxWeightQuantization.Int8), ("int4", OnnxWeightQuantization.Int4) })
        {
            using var onnxGenerator = new Gpt2Generator(model, Tokenizer, onnxRuntime: new OnnxRuntimeDecoding { WeightQuantization = quantization, Threads = get_num_threads() });
            foreach (int batch in batchSizes)
                foreach (int length in promptLengths)
                    TimeGenerator(onnxGenerator, "generator-onnxruntime", weights, batch, length, useCache: true);
        }

        foreach (Precision precision in precisions.Order())   // float32 first, before any rounding to bfloat16
        {
            model.ToPrecision(precision);
            foreach (int batch in batchSizes)
            {
                foreach (int length in promptLengths)
                    TimeGenerator(generator, "torchsharp", Name(precision), batch, length, useCache: true);
            }
        }
    }
}
