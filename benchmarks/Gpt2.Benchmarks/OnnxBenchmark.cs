using System.Diagnostics;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

internal sealed class OnnxBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    /// <summary>
    /// Exports the model as a two-class ONNX classifier (export time, file size), then times one [1, <paramref name="sequenceLength"/>]
    /// input in ONNX Runtime (CPU, full graph optimisation) against TorchSharp's forward and head on the same input.
    /// </summary>
    public void Run(int sequenceLength, int iterations = 20)
    {
        random.manual_seed(0);
        using var model = Config.CreateModel(Device);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor weight = randn(2, Config.EmbeddingSize, device: Device) * 0.02;
        string path = Path.Combine(Path.GetTempPath(), $"gpt2-bench-{Guid.NewGuid():N}.onnx");
        try
        {
            var clock = Stopwatch.StartNew();
            Gpt2OnnxExporter.Export(model, path, new Gpt2OnnxExportOptions { ClassifierWeight = weight });
            double exportSeconds = clock.Elapsed.TotalSeconds;
            long bytes = new FileInfo(path).Length;

            using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            clock.Restart();
            using var session = new InferenceSession(path, sessionOptions);
            double loadSeconds = clock.Elapsed.TotalSeconds;
            long[] ids = [.. Enumerable.Range(0, sequenceLength).Select(i => (long)(i * 7919 % Config.VocabSize))];
            long[] ones = [.. Enumerable.Repeat(1L, sequenceLength)];
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, sequenceLength]);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(ones, [1, sequenceLength]);
            using var runOptions = new RunOptions();
            float[] RunOnnx()
            {
                using var outputs = session.Run(runOptions, [Gpt2OnnxNames.InputIds, Gpt2OnnxNames.AttentionMask], [idsValue, maskValue], [Gpt2OnnxNames.Probabilities]);
                return outputs[0].GetTensorDataAsSpan<float>().ToArray();
            }
            Tensor idsTensor = tensor(ids, device: Device).unsqueeze(0), maskTensor = ones_like(idsTensor);
            float[] RunTorch()
            {
                using var step = NewDisposeScope();
                Tensor last = model.ComputeHiddenStates(idsTensor, null, maskTensor).select(1, -1);
                return nn.functional.linear(last, weight).softmax(-1).cpu().data<float>().ToArray();
            }
            double Milliseconds(Func<float[]> run)
            {
                for (int i = 0; i < 3; i++)
                    run();
                Synchronize();
                var timer = Stopwatch.StartNew();
                for (int i = 0; i < iterations; i++)
                    run();
                Synchronize();
                return timer.Elapsed.TotalMilliseconds / iterations;
            }
            double onnxMs = Milliseconds(RunOnnx), torchMs = Milliseconds(RunTorch);
            double maxDifference = RunOnnx().Zip(RunTorch()).Max(pair => Math.Abs(pair.First - pair.Second));
            Report("onnx", new
            {
                seq = sequenceLength, export_s = Math.Round(exportSeconds, 2), file_mb = Math.Round(bytes / 1e6, 1), load_s = Math.Round(loadSeconds, 2),
                onnxruntime_ms = Math.Round(onnxMs, 1), torchsharp_ms = Math.Round(torchMs, 1), max_probability_difference = maxDifference,
            });
        }
        finally
        {
            File.Delete(path);
        }
    }
}
