using System.Diagnostics;
using System.Text.Json;
using Gpt2.Benchmarks;
using Gpt2.Torch;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Microsoft.ML;
using Microsoft.ML.Gpt2;
using Microsoft.ML.Gpt2.Classification;
using SpamClassification;
using TorchSharp;
using static TorchSharp.torch;

// The GPU check of tools/gpu/README.md: one JSON line per result on stdout and in OUT_DIR/gpu-check.jsonl. Each part runs
// on its own, so one failure (its message in an "error" line) leaves the others' results.
//   dotnet Gpt2.GpuCheck.dll [--device cuda|cpu] [--out DIR] [--smoke] [--root DIR]
// --smoke: tiny sizes (a CPU test of the program itself); --root: the folder holding fixtures/ and data/ (the bundle's).
string deviceName = "cuda", outDir = Environment.GetEnvironmentVariable("OUT") ?? ".", root = AppContext.BaseDirectory;
bool smoke = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--device": deviceName = args[++i]; break;
        case "--out": outDir = args[++i]; break;
        case "--root": root = args[++i]; break;
        case "--smoke": smoke = true; break;
        default: throw new ArgumentException($"Unknown argument '{args[i]}'; see tools/gpu/README.md.");
    }
}
Directory.CreateDirectory(outDir);
using var jsonLines = new StreamWriter(Path.Combine(outDir, "gpu-check.jsonl")) { AutoFlush = true };
Console.SetOut(new JsonLineTee(Console.Out, jsonLines));   // the benchmarks' lines go to the file too

var device = new Device(deviceName);
if (device.type == DeviceType.CUDA)
    InitializeDeviceType(DeviceType.CUDA);
void Line(string check, object values)
{
    var line = new Dictionary<string, object?> { ["check"] = check, ["device"] = device.ToString() };
    foreach (var property in values.GetType().GetProperties())
        line[property.Name] = property.GetValue(values);
    Console.WriteLine(JsonSerializer.Serialize(line));
}
void Part(string name, Action action)
{
    var clock = Stopwatch.StartNew();
    try
    {
        action();
    }
    catch (Exception e)
    {
        Line(name, new { error = e.ToString() });
    }
    Console.Error.WriteLine($"{name}: {clock.Elapsed.TotalSeconds:F1} s");
}

Line("environment", new
{
    torchsharp = typeof(torch).Assembly.GetName().Version?.ToString(3), cuda_available = cuda.is_available(),
    cuda_devices = cuda.is_available() ? cuda.device_count() : 0, threads = get_num_threads(), smoke,
});

// 1. The tiny fixture's logits against the float64 reference (float32: within 1e-4), and the same in bfloat16.
Part("fixture", () =>
{
    string fixture = Path.Combine(root, "fixtures", "tiny-gpt2");
    using SafetensorsFile expected = SafetensorsFile.Open(Path.Combine(fixture, "expected.safetensors"));
    foreach (Precision precision in new[] { Precision.Float32, Precision.BFloat16 })
    {
        using CausalLanguageModel model = (CausalLanguageModel)Gpt2Checkpoint.Load(fixture, device).ToPrecision(precision);
        model.eval();
        using var noGrad = no_grad();
        double maxError = 0;
        for (int k = 0; k < 3; k++)
        {
            using var scope = NewDisposeScope();
            Tensor ids = expected.ReadTensor($"input_ids.{k}").to(device);
            Tensor logits = model.Forward(ids.unsqueeze(0)).squeeze(0).cpu();
            maxError = Math.Max(maxError, (logits - expected.ReadTensor($"logits.{k}")).abs().max().item<float>());
        }
        int[] prompt = [.. expected.ReadTensor("greedy.prompt").data<long>().ToArray().Select(id => (int)id)];
        long[] greedy = expected.ReadTensor("greedy.output").data<long>().ToArray();
        int[] output = new Gpt2Generator(model).Generate(prompt, new GenerationOptions { MaxNewTokens = greedy.Length - prompt.Length, StopAtEndOfText = false });
        Line("fixture", new
        {
            precision = precision.ToString().ToLowerInvariant(), max_logit_error = maxError,
            passed = precision == Precision.Float32 ? maxError < 1e-4 : (bool?)null,
            greedy_matches_reference = output.SequenceEqual(greedy.Select(id => (int)id)),
        });
    }
});

// 1b. The Llama family's four tiny fixtures (GQA tied, Qwen2 biases MQA, Qwen3 q/k norms head_dim in shards, Llama 3
// rope scaling) against their float64 references: a full pass and a left-padded batch (float32: within 1e-4), in both precisions.
Part("family-fixtures", () =>
{
    foreach (string name in new[] { "tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-llama3" })
    {
        string folder = Path.Combine(root, "fixtures", "families", name);
        using SafetensorsFile expected = SafetensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        foreach (Precision precision in new[] { Precision.Float32, Precision.BFloat16 })
        {
            using CausalLanguageModel model = HuggingFaceCheckpoint.Load(folder, device, precision);
            model.eval();
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            double full = (model.Forward(expected.ReadTensor("input_ids").to(device)).cpu() - expected.ReadTensor("logits")).abs().max().item<float>();
            Tensor mask = expected.ReadTensor("batch.attention_mask");
            Tensor batchLogits = model.Forward(expected.ReadTensor("batch.input_ids").to(device), attentionMask: mask.to(device)).cpu();
            double batch = ((batchLogits - expected.ReadTensor("batch.logits")) * mask.unsqueeze(-1)).abs().max().item<float>();
            Line("family-fixtures", new
            {
                fixture = name, precision = precision.ToString().ToLowerInvariant(), max_logit_error = full, max_batch_logit_error = batch,
                passed = precision == Precision.Float32 ? Math.Max(full, batch) < 1e-4 : (bool?)null,
            });
        }
    }
});

// 2. The measured bfloat16 peak, the denominator of MFU.
double peakFlops = double.NaN;
Part("peak", () =>
{
    int n = smoke ? 512 : 8192, iterations = smoke ? 3 : 20;
    using var scope = NewDisposeScope();
    Tensor a = randn(n, n, device: device).to(bfloat16), b = randn(n, n, device: device).to(bfloat16);
    for (int i = 0; i < 3; i++)
        a.matmul(b).Dispose();
    if (device.type == DeviceType.CUDA)
        cuda.synchronize();
    var clock = Stopwatch.StartNew();
    for (int i = 0; i < iterations; i++)
        a.matmul(b).Dispose();
    if (device.type == DeviceType.CUDA)
        cuda.synchronize();
    peakFlops = 2.0 * n * n * (double)n * iterations / clock.Elapsed.TotalSeconds;
    Line("peak", new { precision = "bfloat16", size = n, tflop_per_s = Math.Round(peakFlops / 1e12, 2) });
});

// 3. 124M training tokens/s and MFU (nanoGPT's model FLOPs per token, 6 N + 12 L H Q T, times tokens/s, over the peak) in
// float32, TF32 and bfloat16, at a batch that fills the GPU: the product's training loop (LanguageModelTrainer), one mode
// after the other (TF32 is a process-wide switch that the loop sets from its options).
string preset = smoke ? "mini" : "124M";
Part("train", () =>
{
    var training = new TrainingBenchmark(device, preset);
    (int batch, int length, int steps, int warmUp) = smoke ? (2, 32, 1, 1) : (16, 1024, 10, 2);
    double flopsPerToken;
    using (var model = new Gpt2Model(Gpt2Config.FromPreset(preset), CPU))
        flopsPerToken = Benchmark.TrainingFlopsPerToken(model, length);
    foreach (TrainingMode mode in new[] { new TrainingMode("float32", Precision.Float32), new TrainingMode("tf32", Precision.Float32, AllowTF32: true), TrainingMode.Of(Precision.BFloat16) })
    {
        double tokensPerSecond = training.Run(batch, length, steps, [mode], warmUp)[0];
        Line("mfu", new
        {
            mode = mode.Name, batch, seq = length, tokens_per_s = Math.Round(tokensPerSecond), flops_per_token = flopsPerToken,
            peak_tflop_per_s = Math.Round(peakFlops / 1e12, 2), mfu = Math.Round(flopsPerToken * tokensPerSecond / peakFlops, 4),
        });
    }
});

// 4. KV-cached decoding at batch 1 and 8, float32 and bfloat16 (with ONNX Runtime's CPU rows beside them).
Part("decode", () => new DecodeBenchmark(device, preset).Run(smoke ? [16] : [16, 256], [1, 8], smoke ? 8 : 50, [Precision.Float32, Precision.BFloat16]));

// 5. The SMS spam classifier (the main job) on 124M from random weights, all layers, the book's settings: wall time, test accuracy.
Part("spam", () =>
{
    var clock = Stopwatch.StartNew();
    var mlContext = new MLContext(seed: 123);
    string splitsFolder = Directory.CreateTempSubdirectory("gpu-check-spam").FullName;
    SpamSplits splits = SpamSplits.Create(mlContext, Path.Combine(root, "data", "SMSSpamCollection"), splitsFolder);
    var options = new Gpt2TextClassifier.Options
    {
        BaseModel = smoke
            ? LanguageModelSource.Random(new Gpt2Config { EmbeddingSize = 32, HeadCount = 2, LayerCount = 1 })
            : LanguageModelSource.Random("124M"),
        Sentence1ColumnName = "Text",
        MaxEpochs = smoke ? 1 : 5,
        TrainableLayers = TrainableLayers.All,
        Device = device,
    };
    var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
        .Append(mlContext.MulticlassClassification.Trainers.Gpt2(options))
        .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    ITransformer model = pipeline.Fit(splits.Train);
    double trainingSeconds = clock.Elapsed.TotalSeconds;
    var metrics = mlContext.MulticlassClassification.Evaluate(model.Transform(splits.Test));
    Line("spam", new
    {
        preset = smoke ? "tiny" : "124M", weights = "random", epochs = options.MaxEpochs, batch = options.BatchSize,
        training_s = Math.Round(trainingSeconds, 1), wall_s = Math.Round(clock.Elapsed.TotalSeconds, 1),
        test_accuracy = Math.Round(metrics.MicroAccuracy, 4), test_macro_accuracy = Math.Round(metrics.MacroAccuracy, 4),
    });
    (model as IDisposable)?.Dispose();
    Directory.Delete(splitsFolder, recursive: true);
});
return 0;

/// <summary>Console output that also copies its JSON lines (those starting with '{') to a file.</summary>
internal sealed class JsonLineTee(TextWriter console, TextWriter file) : TextWriter
{
    public override System.Text.Encoding Encoding => console.Encoding;

    public override void Write(char value) => console.Write(value);

    public override void WriteLine(string? value)
    {
        console.WriteLine(value);
        if (value is not null && value.StartsWith('{'))
            file.WriteLine(value);
    }
}
