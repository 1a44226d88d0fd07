using System.Diagnostics;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

internal sealed class QuantizedBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    /// <summary>
    /// Weight-only quantized generator graphs in ONNX Runtime against float32, in one run: file size, batch-1 greedy
    /// tokens/s (prompt 16), perplexity of the next-token graph on <paramref name="textPath"/> (windows of 256), and how many
    /// greedy tokens equal float32's.
    /// </summary>
    public void Run(string textPath, int newTokens, int windows = 4)
    {
        random.manual_seed(0);
        using var model = Config.CreateModel(Device);
        model.eval();
        int[] text = Gpt2.Torch.Tokenization.Gpt2Tokenizer.Default.Encode(File.ReadAllText(textPath));
        int window = Math.Min(Config.ContextLength, 256);
        string directory = Path.Combine(Path.GetTempPath(), $"gpt2-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        int[]? floatTokens = null;
        try
        {
            foreach ((string weights, OnnxWeightQuantization? quantization) in new (string, OnnxWeightQuantization?)[]
                { ("float32", null), ("int8", OnnxWeightQuantization.Int8), ("int4", OnnxWeightQuantization.Int4) })
            {
                string generatorPath = Path.Combine(directory, $"generator-{weights}.onnx"), logitsPath = Path.Combine(directory, $"logits-{weights}.onnx");
                Gpt2OnnxExporter.ExportGenerator(model, generatorPath, newTokens, quantization: quantization);
                Gpt2OnnxExporter.Export(model, logitsPath, new Gpt2OnnxExportOptions { WeightQuantization = quantization });
                using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
                using var runOptions = new RunOptions();

                using (var generator = new InferenceSession(generatorPath, sessionOptions))
                {
                    long[] prompt = [.. text[..16].Select(id => (long)id)];
                    using var ids = OrtValue.CreateTensorValueFromMemory(prompt, [1, prompt.Length]);
                    using var mask = OrtValue.CreateTensorValueFromMemory(prompt.Select(_ => 1L).ToArray(), [1, prompt.Length]);
                    int[] Generate()
                    {
                        using var outputs = generator.Run(runOptions, [Gpt2OnnxNames.InputIds, Gpt2OnnxNames.AttentionMask], [ids, mask], [Gpt2OnnxNames.GeneratedIds]);
                        return outputs[0].GetTensorDataAsSpan<int>().ToArray();
                    }
                    Generate();
                    var clock = Stopwatch.StartNew();
                    int[] tokens = [];
                    for (int run = 0; run < 3; run++)
                        tokens = Generate();
                    double tokensPerSecond = 3 * tokens.Length / clock.Elapsed.TotalSeconds;
                    floatTokens ??= tokens;

                    using var logitsSession = new InferenceSession(logitsPath, sessionOptions);
                    double lossSum = 0;
                    long count = 0;
                    for (int start = 0; start + window + 1 <= text.Length && count < windows * window; start += window + 1)
                    {
                        long[] inputs = [.. text[start..(start + window)].Select(id => (long)id)];
                        using var windowIds = OrtValue.CreateTensorValueFromMemory(inputs, [1, window]);
                        using var windowMask = OrtValue.CreateTensorValueFromMemory(inputs.Select(_ => 1L).ToArray(), [1, window]);
                        using var outputs = logitsSession.Run(runOptions, [Gpt2OnnxNames.InputIds, Gpt2OnnxNames.AttentionMask], [windowIds, windowMask], [Gpt2OnnxNames.Logits]);
                        using var scope = NewDisposeScope();
                        Tensor logits = tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray()).view(window, Config.VocabSize);
                        Tensor targets = tensor(text[(start + 1)..(start + window + 1)].Select(id => (long)id).ToArray());
                        lossSum += nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.Sum).item<float>();
                        count += window;
                    }
                    Report("quantized", new
                    {
                        engine = "onnxruntime", weights, file_mb = Math.Round(new FileInfo(generatorPath).Length / 1e6, 1),
                        tokens_per_s = Math.Round(tokensPerSecond, 1), perplexity = Math.Round(Math.Exp(lossSum / count), 2),
                        greedy_tokens_equal_to_float32 = tokens.Zip(floatTokens).TakeWhile(pair => pair.First == pair.Second).Count(), new_tokens = tokens.Length,
                    });
                }
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
