using System.CommandLine;
using Gpt2.Benchmarks;
using Gpt2.Torch;
using static TorchSharp.torch;

var benches = new Option<string[]>("--bench") { Description = "Which measurements: matmul, train, decode, batch, onnx (default: these), loss, trainer, kernels, perplexity, score, quantized, serve, serve-mixed, sampling, engines, mixed, structured.", AllowMultipleArgumentsPerToken = true };
var preset = new Option<string[]>("--preset") { Description = "Model presets, measured one after the other in the same run: 124M, 355M, 774M, 1558M, book-124M, mini, or a Llama-family size (smollm2-135m, qwen2.5-0.5b, qwen3-0.6b, llama-3.2-1b, ...).", AllowMultipleArgumentsPerToken = true };
var steps = new Option<int>("--steps") { Description = "Timed training steps per shape.", DefaultValueFactory = _ => 5 };
var batch = new Option<int[]>("--batch") { Description = "Training batch sizes, paired with --seq.", AllowMultipleArgumentsPerToken = true };
var seq = new Option<int[]>("--seq") { Description = "Training sequence lengths, paired with --batch.", AllowMultipleArgumentsPerToken = true };
var microBatches = new Option<int>("--micro-batches") { Description = "Batches accumulated per trainer step.", DefaultValueFactory = _ => 4 };
var newTokens = new Option<int>("--new-tokens") { Description = "Tokens to decode.", DefaultValueFactory = _ => 100 };
var repeats = new Option<int>("--repeat") { Description = "Timed runs of each decode row, after one warm-up; the median is reported.", DefaultValueFactory = _ => 1 };
var prompts = new Option<int[]>("--prompt") { Description = "Decoding prompt lengths (default: 16 256 900).", AllowMultipleArgumentsPerToken = true };
var device = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
var precisions = new Option<string[]>("--precision") { Description = "Precisions for train and decode: float32, bfloat16 (default: both).", AllowMultipleArgumentsPerToken = true };
var decodeBatches = new Option<int[]>("--decode-batch") { Description = "Prompts decoded together (default: 1 8).", AllowMultipleArgumentsPerToken = true };
var threads = new Option<int?>("--threads") { Description = "libtorch and ONNX Runtime threads (default: libtorch's own choice)." };
var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder of a tokenizer.json for presets of families without a built-in tokenizer (smollm2-135m, qwen3-0.6b, ...)." };
var text = new Option<string>("--text") { Description = "Text for the perplexity measurement.", DefaultValueFactory = _ => "data/the-verdict.txt" };

var root = new RootCommand("Gpt2MLNet benchmarks: one JSON line per measurement.")
{
    benches, preset, steps, batch, seq, microBatches, newTokens, repeats, prompts, device, precisions, decodeBatches, threads, text, tokenizer,
};
root.SetAction(result =>
{
    string[] selected = result.GetValue(benches) is { Length: > 0 } chosen ? chosen : ["matmul", "train", "decode", "batch", "onnx"];
    int[] batches = result.GetValue(batch) is { Length: > 0 } b ? b : [4, 2];
    int[] lengths = result.GetValue(seq) is { Length: > 0 } s ? s : [64, 256];
    if (batches.Length != lengths.Length)
        throw new ArgumentException("--batch and --seq must list the same number of values (they are paired).");
    Precision[] chosenPrecisions = result.GetValue(precisions) is { Length: > 0 } named
        ? [.. named.Select(name => Enum.TryParse(name, ignoreCase: true, out Precision value) && Enum.IsDefined(value)
            ? value : throw new ArgumentException($"--precision takes float32 or bfloat16, not '{name}'."))]
        : [Precision.Float32, Precision.BFloat16];
    if (result.GetValue(threads) is int threadCount)
        set_num_threads(threadCount);
    Device on = TorchDevices.Parse(result.GetValue(device));
    Benchmark.TokenizerFolder = result.GetValue(tokenizer);
    foreach (string model in result.GetValue(preset) is { Length: > 0 } presetNames ? presetNames : ["124M"])
    {
        if (selected.Contains("matmul"))
            new MatmulBenchmark(on, model).Run();
        if (selected.Contains("train"))
            for (int i = 0; i < batches.Length; i++)
                new TrainingBenchmark(on, model).Run(batches[i], lengths[i], result.GetValue(steps), [.. chosenPrecisions.Select(TrainingMode.Of)]);
        if (selected.Contains("loss"))
            foreach (int count in batches.Zip(lengths, (b, l) => b * l).Distinct())
                new LossBenchmark(on, model).Run(count, chosenPrecisions);
        if (selected.Contains("trainer"))
            for (int i = 0; i < batches.Length; i++)
                new TrainerBenchmark(on, model).Run(batches[i], lengths[i], result.GetValue(microBatches), result.GetValue(steps));
        int[] promptLengths = result.GetValue(prompts) is { Length: > 0 } p ? p : [16, 256, 900];
        if (selected.Contains("decode"))
            new DecodeBenchmark(on, model).Run(promptLengths, result.GetValue(decodeBatches) is { Length: > 0 } d ? d : [1, 8], result.GetValue(newTokens), chosenPrecisions, result.GetValue(repeats));
        if (selected.Contains("perplexity"))
            new PerplexityBenchmark(on, model).Run(result.GetValue(text)!);
        if (selected.Contains("kernels"))
            new KernelsBenchmark(on, model).Run();
        if (selected.Contains("batch"))
            new BatchBenchmark(on, model).Run(result.GetValue(newTokens));
        if (selected.Contains("onnx"))
            new OnnxBenchmark(on, model).Run(sequenceLength: 64);
        if (selected.Contains("quantized"))
            new QuantizedBenchmark(on, model).Run(result.GetValue(text)!, result.GetValue(newTokens));
        if (selected.Contains("serve"))
            ServingBenchmark.RunAsync(model, result.GetValue(newTokens), [1, 4, 16]).GetAwaiter().GetResult();
        if (selected.Contains("serve-mixed"))
            ServingMixedBenchmark.RunAsync(model, result.GetValue(newTokens)).GetAwaiter().GetResult();
        if (selected.Contains("engines"))
            new EngineBenchmark(on, model).Run(result.GetValue(newTokens), Math.Max(3, result.GetValue(repeats)));
        if (selected.Contains("mixed"))
            new MixedLoadBenchmark(on, model).Run(result.GetValue(newTokens));
        if (selected.Contains("sampling"))
            new SamplingBenchmark(on, model).Run();
        if (selected.Contains("structured"))
            new StructuredBenchmark(on, model).Run();
        if (selected.Contains("score"))
            ScoringBenchmark.Run(on);
    }
    return 0;
});
return root.Parse(args).Invoke();
