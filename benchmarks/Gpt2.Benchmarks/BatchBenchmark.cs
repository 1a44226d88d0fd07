using System.Diagnostics;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

internal sealed class BatchBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    /// <summary>Greedy decoding of 8 prompts of 16 to 128 tokens, in one batch and one after the other: generated tokens per second.</summary>
    public void Run(int newTokens, int prompts = 8)
    {
        random.manual_seed(0);
        using var model = Config.CreateModel(Device);
        var generator = new Gpt2Generator(model, Tokenizer);
        int[][] batch = [.. Enumerable.Range(0, prompts).Select(i => Prompt(16 + i * 112 / Math.Max(1, prompts - 1), i))];
        var options = new GenerationOptions { MaxNewTokens = newTokens, StopAtEndOfText = false };
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
}
