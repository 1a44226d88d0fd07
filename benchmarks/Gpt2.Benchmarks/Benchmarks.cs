using System.Diagnostics;
using System.Text.Json;
using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Gpt2.Torch.Training;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>The measurements; each prints one JSON line so runs can be compared by scripts.</summary>
internal sealed class Benchmarks(Device device, string presetName)
{
    private readonly Gpt2Config _config = Gpt2Config.FromPreset(presetName);

    private static double PeakRssMegabytes => Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);

    private void Report(string bench, object values)
    {
        var line = new Dictionary<string, object> { ["bench"] = bench, ["preset"] = presetName, ["device"] = device.ToString() };
        foreach (var property in values.GetType().GetProperties())
            line[property.Name] = property.GetValue(values)!;
        line["peak_rss_mb"] = Math.Round(PeakRssMegabytes);
        line["threads"] = get_num_threads();
        Console.WriteLine(JsonSerializer.Serialize(line));
    }

    private void Synchronize()
    {
        if (device.type == DeviceType.CUDA)
            cuda.synchronize();
    }

    /// <summary>A float32 1024x1024 matmul: this machine's yardstick.</summary>
    public void Matmul(int iterations = 50)
    {
        using var scope = NewDisposeScope();
        Tensor a = randn(1024, 1024, device: device), b = randn(1024, 1024, device: device);
        for (int i = 0; i < 5; i++)
            a.matmul(b).Dispose();
        Synchronize();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
            a.matmul(b).Dispose();
        Synchronize();
        double gflops = 2.0 * 1024 * 1024 * 1024 * iterations / clock.Elapsed.TotalSeconds / 1e9;
        Report("matmul", new { size = 1024, gflop_per_s = Math.Round(gflops, 1) });
    }

    /// <summary>Forward, backward and AdamW step on random tokens, after two warm-up steps.</summary>
    public void Train(int batch, int sequenceLength, int steps)
    {
        random.manual_seed(0);
        using var model = new Gpt2Model(_config, device);
        model.train();
        using var optimizer = new AdamW(model.named_parameters(), learningRate: 1e-4, weightDecay: 0.1);
        // Time spent in forward (with the loss), backward, and the optimizer step, over the timed steps.
        var phases = new double[3];
        var clock = new Stopwatch();
        void Lap(int phase)
        {
            Synchronize();
            phases[phase] += clock.Elapsed.TotalMilliseconds;
            clock.Restart();
        }
        void Step()
        {
            using var scope = NewDisposeScope();
            Tensor tokens = randint(0, _config.VocabSize, [batch, sequenceLength + 1], dtype: int64, device: device);
            clock.Restart();
            Tensor logits = model.Forward(tokens.narrow(1, 0, sequenceLength));
            Tensor loss = nn.functional.cross_entropy(logits.flatten(0, 1), tokens.narrow(1, 1, sequenceLength).flatten());
            Lap(0);
            optimizer.ZeroGrad();
            loss.backward();
            Lap(1);
            optimizer.Step();
            Lap(2);
        }
        Step();
        Step();
        Array.Clear(phases);
        for (int i = 0; i < steps; i++)
            Step();
        double seconds = phases.Sum() / 1000;
        Report("train", new
        {
            batch, seq = sequenceLength, steps, dropout = _config.Dropout,
            tokens_per_s = Math.Round(batch * sequenceLength * steps / seconds, 1),
            ms_per_step = Math.Round(1000 * seconds / steps),
            forward_ms = Math.Round(phases[0] / steps), backward_ms = Math.Round(phases[1] / steps), optimizer_ms = Math.Round(phases[2] / steps),
        });
    }

    /// <summary>
    /// Optimizer steps through <see cref="LanguageModelTrainer"/>, each accumulating <paramref name="microBatches"/> batches,
    /// with clipping, on random tokens; the first step is a warm-up and the final evaluation is not timed.
    /// </summary>
    public void TrainerStep(int batch, int sequenceLength, int microBatches, int steps)
    {
        random.manual_seed(0);
        using var model = new Gpt2Model(_config, device);
        var tokenDraw = new Random(0);
        int[] tokens = [.. Enumerable.Range(0, (steps + 1) * microBatches * batch * sequenceLength + 1).Select(_ => tokenDraw.Next(_config.VocabSize))];
        NextTokenBatches Batches(int[] ids) => new(new NextTokenWindows(ids, sequenceLength, sequenceLength), batch, device: device);
        using var trainer = new LanguageModelTrainer(model, new LanguageModelTrainingOptions
        {
            Epochs = 1, GradientAccumulationSteps = microBatches, MaxGradientNorm = 1.0, EvaluationInterval = 0, EvaluationBatches = 1,
        });
        var clock = new Stopwatch();
        trainer.StepCompleted += step =>
        {
            Synchronize();
            if (step.Step == 0)
                clock.Start();
            else if (step.Step == steps)
                clock.Stop();
        };
        trainer.Train(Batches(tokens), Batches(tokens[..(batch * sequenceLength + 1)]));
        double seconds = clock.Elapsed.TotalSeconds;
        Report("trainer", new
        {
            batch, seq = sequenceLength, micro_batches = microBatches, steps, dropout = _config.Dropout,
            tokens_per_s = Math.Round((double)batch * sequenceLength * microBatches * steps / seconds, 1),
            ms_per_step = Math.Round(1000 * seconds / steps),
        });
    }

    /// <summary>
    /// Greedy decoding of <paramref name="newTokens"/> tokens after a <paramref name="promptLength"/>-token prompt with the KV cache
    /// (and, when <paramref name="withoutCache"/>, without it): time to the first token (the prefill), then tokens/s after it.
    /// </summary>
    public void Decode(int promptLength, int newTokens, bool withoutCache)
    {
        random.manual_seed(0);
        using var model = new Gpt2Model(_config, device);
        var generator = new Gpt2Generator(model);
        int[] prompt = Prompt(promptLength, 0);
        foreach (bool useCache in withoutCache ? new[] { true, false } : [true])
        {
            // The end-of-text id is left unset so every run decodes exactly newTokens tokens.
            var options = new GenerationOptions { MaxNewTokens = newTokens, UseCache = useCache };
            generator.Generate(prompt, options with { MaxNewTokens = 3 });
            var clock = Stopwatch.StartNew();
            double firstToken = 0;
            int[] output = generator.Generate(prompt, options, _ => firstToken = firstToken == 0 ? clock.Elapsed.TotalSeconds : firstToken);
            double seconds = clock.Elapsed.TotalSeconds;
            int generated = output.Length - promptLength;
            Report("decode", new
            {
                prompt = promptLength, new_tokens = generated, kv_cache = useCache,
                first_token_ms = Math.Round(1000 * firstToken), tokens_per_s = Math.Round((generated - 1) / (seconds - firstToken), 1),
            });
        }
    }

    /// <summary>
    /// Exports the model as a two-class ONNX classifier (export time, file size), then times one [1, <paramref name="sequenceLength"/>]
    /// input in ONNX Runtime (CPU, full graph optimisation) against TorchSharp's forward and head on the same input.
    /// </summary>
    public void Onnx(int sequenceLength, int iterations = 20)
    {
        random.manual_seed(0);
        using var model = new Gpt2Model(_config, device);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor weight = randn(2, _config.EmbeddingSize, device: device) * 0.02;
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
            long[] ids = [.. Enumerable.Range(0, sequenceLength).Select(i => (long)(i * 7919 % _config.VocabSize))];
            long[] ones = [.. Enumerable.Repeat(1L, sequenceLength)];
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, sequenceLength]);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(ones, [1, sequenceLength]);
            using var runOptions = new RunOptions();
            float[] RunOnnx()
            {
                using var outputs = session.Run(runOptions, [Gpt2OnnxNames.InputIds, Gpt2OnnxNames.AttentionMask], [idsValue, maskValue], [Gpt2OnnxNames.Probabilities]);
                return outputs[0].GetTensorDataAsSpan<float>().ToArray();
            }
            Tensor idsTensor = tensor(ids, device: device).unsqueeze(0), maskTensor = ones_like(idsTensor);
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

    /// <summary>Greedy decoding of 8 prompts of 16 to 128 tokens, in one batch and one after the other: generated tokens per second.</summary>
    public void Batch(int newTokens, int prompts = 8)
    {
        random.manual_seed(0);
        using var model = new Gpt2Model(_config, device);
        var generator = new Gpt2Generator(model);
        int[][] batch = [.. Enumerable.Range(0, prompts).Select(i => Prompt(16 + i * 112 / Math.Max(1, prompts - 1), i))];
        var options = new GenerationOptions { MaxNewTokens = newTokens };
        generator.GenerateBatch(batch, options with { MaxNewTokens = 3 });
        var clock = Stopwatch.StartNew();
        int[][] batched = generator.GenerateBatch(batch, options);
        double batchedSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        int[][] sequential = [.. batch.Select(prompt => generator.Generate(prompt, options))];
        double sequentialSeconds = clock.Elapsed.TotalSeconds;
        int generated = batched.Sum(row => row.Length) - batch.Sum(row => row.Length);
        Report("batch", new
        {
            prompts, new_tokens = newTokens, same_as_sequential = batched.Zip(sequential).All(pair => pair.First.SequenceEqual(pair.Second)),
            batched_tokens_per_s = Math.Round(generated / batchedSeconds, 1), sequential_tokens_per_s = Math.Round(generated / sequentialSeconds, 1),
        });
    }

    private int[] Prompt(int length, int seed) => [.. Enumerable.Range(0, length).Select(i => (i * 7919 + seed * 104729) % _config.VocabSize)];
}
