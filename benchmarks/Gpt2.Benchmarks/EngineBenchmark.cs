using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>
/// <c>--bench engines</c>: batch-1 greedy decoding through <see cref="Gpt2TextGenerationService"/> built from a model
/// source with each engine, and with none named (the default a user gets): time to the first streamed text and
/// generated tokens per second after it. The services decode in turns, one request each per round, so that a shared
/// machine's load slows them alike; each row is the median over the rounds, after one warm-up request each.
/// </summary>
internal sealed class EngineBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    public void Run(int newTokens, int rounds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        string?[] engines = [null, .. DecodingEngine.Names.Where(name => name != DecodingEngine.Auto.Name)];
        var services = new List<(string Label, Gpt2TextGenerationService Service)>();
        try
        {
            foreach (string? engine in engines)
            {
                if (Device.type != TorchSharp.DeviceType.CPU && engine is not null && engine.StartsWith("onnxruntime", StringComparison.Ordinal))
                    continue;
                random.manual_seed(0);   // the same random weights for every engine
                services.Add((engine ?? "default", Gpt2TextGenerationService.Load(RandomSource(), Device,
                    engine is null ? null : DecodingEngine.Parse(engine))));
            }
            int[] prompt = Prompt(16, 0);
            var options = new GenerationOptions { MaxNewTokens = newTokens, StopAtEndOfText = false };
            foreach ((_, Gpt2TextGenerationService service) in services)
                Time(service, prompt, options with { MaxNewTokens = 4 });
            var timings = services.ToDictionary(s => s.Label, _ => new List<(double First, double Rate)>());
            for (int round = 0; round < rounds; round++)
                foreach ((string label, Gpt2TextGenerationService service) in services)
                    timings[label].Add(Time(service, prompt, options));
            double torchSharpRate = Median(timings["torchsharp"].Select(t => t.Rate));
            foreach ((string label, Gpt2TextGenerationService service) in services)
            {
                double rate = Median(timings[label].Select(t => t.Rate));
                Report("engines", new
                {
                    engine = label, resolved = service.EngineName, batch = 1, prompt = prompt.Length, new_tokens = newTokens, rounds,
                    tokens_per_s = Math.Round(rate, 1), first_text_ms = Math.Round(1000 * Median(timings[label].Select(t => t.First))),
                    vs_torchsharp = Math.Round(rate / torchSharpRate, 2),
                });
            }
        }
        finally
        {
            foreach ((_, Gpt2TextGenerationService service) in services)
                service.Dispose();
        }
    }

    // One streamed request: seconds to its first text, and tokens per second after it.
    private static (double First, double Rate) Time(Gpt2TextGenerationService service, int[] prompt, GenerationOptions options)
    {
        var clock = Stopwatch.StartNew();
        double first = 0;
        TextGenerationStream stream = service.GenerateStreamingAsync(prompt, options);
        Task.Run(async () =>
        {
            await foreach (string _ in stream)
                first = first == 0 ? clock.Elapsed.TotalSeconds : first;
        }).GetAwaiter().GetResult();
        double total = clock.Elapsed.TotalSeconds;
        return (first, (stream.Result!.CompletionTokenCount - 1) / (total - first));
    }
}
