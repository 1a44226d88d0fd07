using System.Diagnostics;
using System.Text.Json;
using Gpt2.Torch;
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

    /// <summary>
    /// A 1024x1024 matmul in float32 and in bfloat16: this machine's yardstick. Timed after a second of warm-up, so that the
    /// process's own start (JIT, libtorch's thread pool, <c>dotnet run</c>'s build) does not count.
    /// </summary>
    public void Matmul(int iterations = 50)
    {
        foreach (ScalarType type in new[] { float32, bfloat16 })
        {
            using var scope = NewDisposeScope();
            Tensor a = randn(1024, 1024, device: device).to(type), b = randn(1024, 1024, device: device).to(type);
            var warmUp = Stopwatch.StartNew();
            while (warmUp.Elapsed.TotalSeconds < 1)
                a.matmul(b).Dispose();
            Synchronize();
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < iterations; i++)
                a.matmul(b).Dispose();
            Synchronize();
            double gflops = 2.0 * 1024 * 1024 * 1024 * iterations / clock.Elapsed.TotalSeconds / 1e9;
            Report("matmul", new { precision = Name(type.ToPrecision()), size = 1024, gflop_per_s = Math.Round(gflops, 1) });
        }
    }

    private static string Name(Precision precision) => precision.ToString().ToLowerInvariant();

    /// <summary>
    /// Forward, backward and AdamW step on random tokens, after two warm-up steps, for each of <paramref name="precisions"/>
    /// side by side: the precisions take turns step by step, so that a machine whose load changes (a shared one) slows
    /// them alike. In bfloat16 (until the training loop has its own mixed precision) the step is the plain mixed-precision
    /// recipe: the float32 model and AdamW state stay the master copy; each step copies the weights into a bfloat16 copy of
    /// the model, runs forward and backward there (loss and softmax in float32), and hands the gradients back to the
    /// float32 parameters for AdamW. The copies count in the optimizer phase.
    /// </summary>
    /// <returns>Training tokens per second, per precision.</returns>
    public double[] Train(int batch, int sequenceLength, int steps, params Precision[] precisions)
    {
        var runs = precisions.Select(precision => new TrainingRun(_config, device, precision)).ToArray();
        try
        {
            for (int step = -2; step < steps; step++)
            {
                foreach (TrainingRun run in runs)
                {
                    random.manual_seed(step + 1000);
                    run.Step(batch, sequenceLength, timed: step >= 0);
                }
            }
            return [.. runs.Select(run =>
            {
                double seconds = run.Phases.Sum() / 1000;
                double tokensPerSecond = batch * sequenceLength * steps / seconds;
                Report("train", new
                {
                    precision = Name(run.Precision), tf32 = device.type == DeviceType.CUDA && backends.cuda.matmul.allow_tf32, batch,
                    seq = sequenceLength, steps, dropout = _config.Dropout, side_by_side = runs.Length,
                    tokens_per_s = Math.Round(tokensPerSecond, 1),
                    ms_per_step = Math.Round(1000 * seconds / steps),
                    forward_ms = Math.Round(run.Phases[0] / steps), backward_ms = Math.Round(run.Phases[1] / steps), optimizer_ms = Math.Round(run.Phases[2] / steps),
                });
                return tokensPerSecond;
            })];
        }
        finally
        {
            foreach (TrainingRun run in runs)
                run.Dispose();
        }
    }

    /// <summary>One precision's model, optimizer and phase times for <see cref="Train"/>.</summary>
    private sealed class TrainingRun : IDisposable
    {
        private readonly Gpt2Config _config;
        private readonly Device _device;
        private readonly Gpt2Model _model;
        private readonly AdamW _optimizer;
        private readonly Gpt2Model? _working;
        private readonly Tensor[] _master;
        private readonly Tensor[] _copy;
        private readonly Stopwatch _clock = new();
        private bool _hasGradients;

        public TrainingRun(Gpt2Config config, Device device, Precision precision)
        {
            _config = config;
            _device = device;
            Precision = precision;
            random.manual_seed(0);
            _model = new Gpt2Model(config, device);
            _model.train();
            _optimizer = new AdamW(_model.named_parameters(), learningRate: 1e-4, weightDecay: 0.1);
            _working = precision == Precision.Float32 ? null : new Gpt2Model(config, device).ToPrecision(precision);
            _working?.train();
            _master = [.. _model.parameters()];
            _copy = _working is null ? [] : [.. _working.parameters()];
        }

        public Precision Precision { get; }

        /// <summary>Milliseconds in forward (with the loss), backward, and the optimizer step, over the timed steps.</summary>
        public double[] Phases { get; } = new double[3];

        public void Step(int batch, int sequenceLength, bool timed)
        {
            using var scope = NewDisposeScope();
            Tensor tokens = randint(0, _config.VocabSize, [batch, sequenceLength + 1], dtype: int64, device: _device);
            void Lap(int phase)
            {
                if (_device.type == DeviceType.CUDA)
                    cuda.synchronize();
                if (timed)
                    Phases[phase] += _clock.Elapsed.TotalMilliseconds;
                _clock.Restart();
            }
            _clock.Restart();
            // The first step runs the float32 model, which gives its parameters their gradient buffers.
            Gpt2Model computing = _hasGradients ? _working ?? _model : _model;
            _hasGradients = true;
            if (computing == _working)
            {
                using var noGrad = no_grad();
                for (int i = 0; i < _master.Length; i++)
                    _copy[i].copy_(_master[i]);
            }
            Tensor logits = computing.Forward(tokens.narrow(1, 0, sequenceLength));
            Tensor loss = nn.functional.cross_entropy(logits.flatten(0, 1), tokens.narrow(1, 1, sequenceLength).flatten());
            Lap(0);
            _optimizer.ZeroGrad();
            foreach (Tensor parameter in _copy)
                parameter.grad?.zero_();
            loss.backward();
            Lap(1);
            if (computing == _working)
            {
                using var noGrad = no_grad();
                for (int i = 0; i < _master.Length; i++)
                    _master[i].grad!.copy_(_copy[i].grad!);
            }
            _optimizer.Step();
            Lap(2);
        }

        public void Dispose()
        {
            _optimizer.Dispose();
            _working?.Dispose();
            _model.Dispose();
        }
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
    /// Greedy decoding of <paramref name="newTokens"/> tokens after prompts of each of <paramref name="promptLengths"/> tokens, one
    /// prompt and <paramref name="batchSizes"/> prompts together, with the KV cache: time to the first token (the prefill), then
    /// generated tokens per second after it (all rows together). The same model (random weights, seed 0) decodes in TorchSharp
    /// in each of <paramref name="precisions"/>, and in ONNX Runtime through the exported <c>GreedySearch</c> graph (float32;
    /// there the first token is a run of a graph exported for one new token). The first prompt length is also timed without
    /// the cache (float32, one prompt).
    /// </summary>
    public void Decode(int[] promptLengths, int[] batchSizes, int newTokens, Precision[] precisions, int repeats = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        random.manual_seed(0);
        using var model = new Gpt2Model(_config, device);
        using var generator = new Gpt2Generator(model);
        int[][] Prompts(int length, int batch) => [.. Enumerable.Range(0, batch).Select(row => Prompt(length, row))];
        // The median of `repeats` timings (first token, whole run) of `time`, after one untimed warm-up run.
        void ReportDecode(string engine, string precision, int batch, int prompt, bool kvCache, Func<(double First, double Total, int Generated)> time)
        {
            time();
            var runs = Enumerable.Range(0, repeats).Select(_ => time()).ToArray();
            int generatedPerRow = runs[0].Generated;
            double Median(IEnumerable<double> values) => values.Order().ElementAt(repeats / 2);
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
            // The end-of-text id is left unset so every run decodes exactly newTokens tokens.
            var options = new GenerationOptions { MaxNewTokens = newTokens, UseCache = useCache };
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
        foreach ((string weights, OnnxWeightQuantization? quantization) in device.type != DeviceType.CPU ? []
            : new[] { ("float32", (OnnxWeightQuantization?)null), ("int8", OnnxWeightQuantization.Int8), ("int4", OnnxWeightQuantization.Int4) })
        {
            using var onnxGenerator = new Gpt2Generator(model, onnxRuntime: new OnnxRuntimeDecoding { WeightQuantization = quantization, Threads = get_num_threads() });
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
                {
                    bool alsoUncached = precision == Precision.Float32 && batch == 1 && length == promptLengths[0];
                    foreach (bool useCache in alsoUncached ? new[] { true, false } : [true])
                        TimeGenerator(generator, "torchsharp", Name(precision), batch, length, useCache);
                }
            }
        }
    }

    /// <summary>
    /// Perplexity of the model (random weights, seed 0, as every other measurement here) on The Verdict in windows of the
    /// context length, in float32 and in bfloat16: the quality cost of bfloat16 inference.
    /// </summary>
    public void Perplexity(string textPath)
    {
        random.manual_seed(0);
        using var model = new Gpt2Model(_config, device);
        int[] tokens = Gpt2.Torch.Tokenization.Gpt2Tokenizer.Default.Encode(File.ReadAllText(textPath));
        int window = Math.Min(_config.ContextLength, 256);
        var batches = new NextTokenBatches(new NextTokenWindows(tokens, window, window), 4, dropLast: false, device: device, vocabularySize: _config.VocabSize);
        var perplexities = new Dictionary<Precision, double>();
        foreach (Precision precision in new[] { Precision.Float32, Precision.BFloat16 })
        {
            model.ToPrecision(precision);
            model.eval();
            using var noGrad = no_grad();
            double lossSum = 0;
            long count = 0;
            foreach ((Tensor inputs, Tensor targets) in batches.Batches())
            {
                using var scope = NewDisposeScope();
                Tensor logits = model.Forward(inputs);
                lossSum += nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction: nn.Reduction.Sum).item<float>();
                count += targets.numel();
                inputs.Dispose();
                targets.Dispose();
            }
            perplexities[precision] = Math.Exp(lossSum / count);
        }
        Report("perplexity", new
        {
            text = Path.GetFileName(textPath), tokens = tokens.Length, window,
            float32 = Math.Round(perplexities[Precision.Float32], 3), bfloat16 = Math.Round(perplexities[Precision.BFloat16], 3),
            relative_difference = Math.Round(perplexities[Precision.BFloat16] / perplexities[Precision.Float32] - 1, 6),
        });
    }

    /// <summary>
    /// Exports the model as a two-class ONNX classifier (export time, file size), then times one [1, <paramref name="sequenceLength"/>]
    /// input in ONNX Runtime (CPU, full graph optimisation) against TorchSharp's forward and head on the same input.
    /// </summary>
    /// <summary>
    /// Weight-only quantized generator graphs in ONNX Runtime against float32, in one run: file size, batch-1 greedy
    /// tokens/s (prompt 16), perplexity of the next-token graph on <paramref name="textPath"/> (windows of 256), and how many
    /// greedy tokens equal float32's.
    /// </summary>
    public void Quantized(string textPath, int newTokens, int windows = 4)
    {
        random.manual_seed(0);
        using var model = new Gpt2Model(_config, device);
        model.eval();
        int[] text = Gpt2.Torch.Tokenization.Gpt2Tokenizer.Default.Encode(File.ReadAllText(textPath));
        int window = Math.Min(_config.ContextLength, 256);
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
                        Tensor logits = tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray()).view(window, _config.VocabSize);
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

    /// <summary>
    /// Where batch-1 decoding time goes: one token's matrix-vector products (the 48 block layers' weights and the head) timed
    /// alone, in each precision, for each way of calling them: <c>linear(x, W)</c> on the [out, in] weight,
    /// <c>matmul(x, W^T)</c> on a transposed contiguous copy, <c>W.matmul(x^T)</c>, and <c>mv</c>.
    /// </summary>
    public void Kernels(int iterations = 20)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long e = _config.EmbeddingSize, m = _config.ResolvedMlpSize;
        (long Out, long In, int Count)[] shapes = [(3 * e, e, _config.LayerCount), (e, e, _config.LayerCount), (m, e, _config.LayerCount), (e, m, _config.LayerCount), (_config.VocabSize, e, 1)];
        foreach (ScalarType type in new[] { float32, bfloat16 })
        {
            var weights = shapes.Select(s => Enumerable.Range(0, s.Count).Select(_ => (randn(s.Out, s.In, device: device) * 0.02).to(type)).ToArray()).ToArray();
            var transposed = weights.Select(layer => layer.Select(w => w.t().contiguous()).ToArray()).ToArray();
            var inputs = shapes.Select(s => randn(1, s.In, device: device).to(type)).ToArray();
            var variants = new (string Name, Func<Tensor, Tensor, Tensor, Tensor> Run)[]
            {
                ("linear", (x, w, wt) => nn.functional.linear(x, w)),
                ("matmul_transposed_copy", (x, w, wt) => x.matmul(wt)),
                ("weight_matmul_x_t", (x, w, wt) => w.matmul(x.t())),
                ("mv", (x, w, wt) => w.mv(x.squeeze(0))),
            };
            foreach ((string name, var run) in variants)
            {
                double[] ms = new double[shapes.Length];
                for (int s = 0; s < shapes.Length; s++)
                {
                    for (int i = 0; i < 2; i++)
                        for (int l = 0; l < weights[s].Length; l++)
                            run(inputs[s], weights[s][l], transposed[s][l]).Dispose();
                    Synchronize();
                    var clock = Stopwatch.StartNew();
                    for (int i = 0; i < iterations; i++)
                        for (int l = 0; l < weights[s].Length; l++)
                            run(inputs[s], weights[s][l], transposed[s][l]).Dispose();
                    Synchronize();
                    ms[s] = clock.Elapsed.TotalMilliseconds / iterations;
                }
                double blockMs = ms[..^1].Sum(), headMs = ms[^1];
                double bytes = shapes.Sum(s => (double)s.Out * s.In * s.Count) * (type == float32 ? 4 : 2);
                Report("kernels", new
                {
                    precision = Name(type.ToPrecision()), variant = name,
                    block_ms = Math.Round(blockMs, 2), head_ms = Math.Round(headMs, 2),
                    qkv_ms = Math.Round(ms[0], 2), attn_proj_ms = Math.Round(ms[1], 2), fc_ms = Math.Round(ms[2], 2), mlp_proj_ms = Math.Round(ms[3], 2),
                    gb_per_s = Math.Round(bytes / ((blockMs + headMs) / 1000) / 1e9, 1),
                });
            }
        }
    }

    private int[] Prompt(int length, int seed) => [.. Enumerable.Range(0, length).Select(i => (i * 7919 + seed * 104729) % _config.VocabSize)];
}
