using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

internal sealed class SamplingBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    /// <summary>
    /// The cost of choosing one token from one row's logits over the preset's vocabulary, per step: the shared argmax
    /// plain greedy rows get, then <see cref="TokenSampler.Next"/> with more and more of the logits processors on, the row's
    /// history growing by the chosen token each step as in the decode loop. The model is not run; the fastest of three
    /// timed runs is reported, so that a busy machine disturbs the figures less.
    /// </summary>
    public void Run(int steps = 200, int warmUp = 20)
    {
        NativeMemoryTuning.Apply();   // as when a model is loaded: the decode loop's allocator
        using var scope = NewDisposeScope();
        random.manual_seed(0);
        Tensor logits = randn(1, Config.VocabSize, device: Device) * 3;
        var penalties = new GenerationOptions
        {
            RepetitionPenalty = 1.2, FrequencyPenalty = 0.5, PresencePenalty = 0.3, LogitBias = new Dictionary<int, double> { [198] = -100, [13] = 5 },
        };
        var sampling = new GenerationOptions { Temperature = 0.8, Seed = 1 };
        (string Name, GenerationOptions? Options)[] configurations =
        [
            ("plain_greedy_argmax", null),
            ("greedy_bias", new GenerationOptions { LogitBias = new Dictionary<int, double> { [13] = 0.1 } }),
            ("greedy_penalties_logprobs5", penalties with { LogProbabilities = 5 }),
            ("temperature", sampling),
            ("temperature_top_p", sampling with { TopP = 0.9 }),
            ("temperature_top_k_top_p", sampling with { TopK = 50, TopP = 0.9 }),
            ("all_processors", penalties with { Temperature = 0.8, TopK = 50, TopP = 0.9, MinP = 0.05, Seed = 1 }),
            ("all_processors_logprobs5", penalties with { Temperature = 0.8, TopK = 50, TopP = 0.9, MinP = 0.05, Seed = 1, LogProbabilities = 5 }),
        ];
        double baseline = 0;
        foreach ((string name, GenerationOptions? options) in configurations)
        {
            (double microseconds, double cpuMicroseconds) = PerStep(logits, options, steps, warmUp);
            if (options is null)
                baseline = microseconds;
            Report("sampling", new
            {
                configuration = name, vocabulary = Config.VocabSize, steps,
                us_per_step = Math.Round(microseconds, 1), cpu_us_per_step = Math.Round(cpuMicroseconds, 1),
                ratio_to_plain_greedy = Math.Round(microseconds / baseline, 2),
            });
        }
    }

    private const int Repeats = 3;

    // Wall-clock and process CPU microseconds per step, each the fastest of three runs of `steps` steps after the warm-up
    // (one row decoding on, its history growing by each chosen token); null options time the shared argmax of plain
    // greedy rows. CPU time is the steadier figure on a machine shared with other work.
    private (double Wall, double Cpu) PerStep(Tensor logits, GenerationOptions? options, int steps, int warmUp)
    {
        var process = Process.GetCurrentProcess();
        using var sampler = options is null ? null : new TokenSampler(options, Device);
        var history = new List<int>(Prompt(16, 1));
        var clock = new Stopwatch();
        double fastest = double.PositiveInfinity, fastestCpu = double.PositiveInfinity;
        TimeSpan cpuStart = TimeSpan.Zero;
        for (int step = 0; step < warmUp + Repeats * steps; step++)
        {
            if (step >= warmUp && (step - warmUp) % steps == 0)
            {
                if (clock.IsRunning)
                    (fastest, fastestCpu) = Fastest(fastest, fastestCpu);
                Synchronize();
                process.Refresh();
                cpuStart = process.TotalProcessorTime;
                clock.Restart();
            }
            using var scope = NewDisposeScope();
            history.Add(sampler is null ? (int)logits.argmax(-1).cpu().item<long>() : sampler.Next(logits, history, 16).TokenId);
        }
        Synchronize();
        return Fastest(fastest, fastestCpu);

        (double, double) Fastest(double wall, double cpu)
        {
            process.Refresh();
            return (Math.Min(wall, clock.Elapsed.TotalMicroseconds / steps), Math.Min(cpu, (process.TotalProcessorTime - cpuStart).TotalMicroseconds / steps));
        }
    }
}
