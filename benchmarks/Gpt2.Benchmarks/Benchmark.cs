using System.Diagnostics;
using System.Text.Json;
using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>What the measurements share: the device, the model preset, and one JSON line per result (so runs can be compared by scripts).</summary>
internal abstract class Benchmark(Device device, string presetName)
{
    protected Device Device { get; } = device;

    protected string Preset { get; } = presetName;

    protected LanguageModelConfig Config { get; } = LanguageModelConfig.FromPreset(presetName);

    /// <summary>
    /// The folder of a <c>tokenizer.json</c> for presets of families without a built-in tokenizer (<c>--tokenizer</c>); with
    /// random weights any byte-level tokenizer covering the ids decodes them, so the measurements do not depend on which.
    /// </summary>
    public static string? TokenizerFolder { get; set; }

    /// <summary>The tokenizer of <see cref="TokenizerFolder"/>, or null for the family's built-in one (GPT-2's).</summary>
    protected static LanguageModelTokenizer? Tokenizer => TokenizerFolder is null ? null : HuggingFaceTokenizer.Load(TokenizerFolder);

    /// <summary>Random weights of the preset, with <see cref="Tokenizer"/>.</summary>
    protected LanguageModelSource RandomSource() => LanguageModelSource.Random(Config, Tokenizer);

    private static double PeakRssMegabytes => Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);

    /// <summary>Prints <c>{"bench":BENCH,"preset":...,"device":...,VALUES...,"peak_rss_mb":...,"threads":...}</c>.</summary>
    protected void Report(string bench, object values)
    {
        var line = new Dictionary<string, object> { ["bench"] = bench, ["preset"] = Preset, ["device"] = Device.ToString() };
        foreach (var property in values.GetType().GetProperties())
            line[property.Name] = property.GetValue(values)!;
        line["peak_rss_mb"] = Math.Round(PeakRssMegabytes);
        line["threads"] = get_num_threads();
        Console.WriteLine(JsonSerializer.Serialize(line));
    }

    /// <summary>Waits for the device's queued work (a no-op on the CPU), so that a clock read afterwards includes it.</summary>
    protected void Synchronize()
    {
        if (Device.type == DeviceType.CUDA)
            cuda.synchronize();
    }

    /// <summary>The middle value of <paramref name="values"/> (the upper middle of an even count).</summary>
    protected static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted[sorted.Length / 2];
    }

    protected static string Name(Precision precision) => precision.ToString().ToLowerInvariant();

    /// <summary>A deterministic prompt of <paramref name="length"/> token ids.</summary>
    protected int[] Prompt(int length, int seed) => [.. Enumerable.Range(0, length).Select(i => (i * 7919 + seed * 104729) % Config.VocabSize)];

    /// <summary>
    /// Training FLOPs per token as nanoGPT counts them (its <c>estimate_mfu</c>): 6 N + 12 L H Q T, N the model's parameters
    /// without a learned position embedding (GPT-2's; a tied token embedding counts once), L layers, H heads, Q head size, T the sequence length.
    /// </summary>
    public static double TrainingFlopsPerToken(CausalLanguageModel model, int sequenceLength)
    {
        LanguageModelConfig config = model.Config;
        long parameters = model.ParameterCount - model.PositionEmbeddingParameterCount;
        return 6.0 * parameters + 12.0 * config.LayerCount * config.HeadCount * config.HeadSize * sequenceLength;
    }
}
