using Gpt2.Torch.Generation;
using static System.FormattableString;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// What a generator exported by <see cref="Gpt2OnnxExporter.ExportGenerator"/> can carry of a <see cref="GenerationOptions"/>:
/// ONNX Runtime's <c>GreedySearch</c> (temperature 0) and <c>Sampling</c> operators with <see cref="OnnxSampling"/>'s
/// temperature, top-p and 32-bit seed, stopping at end-of-text. The one place that decides it, so that a model saved
/// with options it cannot reproduce is refused by name instead of decoding differently after loading.
/// </summary>
internal static class OnnxGeneratorSupport
{
    /// <summary>
    /// Why an exported generator could not decode as <paramref name="options"/> say, naming each option as
    /// <paramref name="prefix"/> + its name (for example <c>"Generation.Sampling."</c>); null when it can. Options set to
    /// the value that changes nothing (a repetition penalty of 1, penalties of 0, no bias) are carried.
    /// </summary>
    public static string? WhyNotExportable(GenerationOptions options, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(options);
        bool sampling = !options.IsGreedy;
        var reasons = new List<string>();
        void Refuse(bool condition, string option, string what) { if (condition) reasons.Add($"{prefix}{option} is {what}"); }

        // Greedy decoding takes the most likely token, which top-k, top-p and min-p always keep: they matter only when sampling.
        Refuse(sampling && options.TopK is not null, nameof(GenerationOptions.TopK), Invariant($"{options.TopK}, which ONNX Runtime's Sampling operator does not offer"));
        Refuse(sampling && options.MinP is > 0, nameof(GenerationOptions.MinP), Invariant($"{options.MinP}, which ONNX Runtime's Sampling operator does not offer"));
        Refuse(options.RepetitionPenalty is double repetition && repetition != 1, nameof(GenerationOptions.RepetitionPenalty),
            Invariant($"{options.RepetitionPenalty}, which the exported generator does not apply"));
        Refuse(options.FrequencyPenalty is double frequency && frequency != 0, nameof(GenerationOptions.FrequencyPenalty),
            Invariant($"{options.FrequencyPenalty}, which ONNX Runtime's GreedySearch and Sampling do not offer"));
        Refuse(options.PresencePenalty is double presence && presence != 0, nameof(GenerationOptions.PresencePenalty),
            Invariant($"{options.PresencePenalty}, which ONNX Runtime's GreedySearch and Sampling do not offer"));
        Refuse(options.LogitBias.Count > 0, nameof(GenerationOptions.LogitBias),
            $"set ({string.Join(", ", options.LogitBias.Select(pair => Invariant($"{pair.Key}: {pair.Value}")))}), which ONNX Runtime's GreedySearch and Sampling do not offer");
        Refuse(options.StopStrings.Count > 0, nameof(GenerationOptions.StopStrings),
            $"set ({string.Join(", ", options.StopStrings.Select(s => $"'{s}'"))}), which ONNX Runtime's GreedySearch and Sampling do not offer");
        Refuse(options.StopSequences.Count > 0, nameof(GenerationOptions.StopSequences),
            $"set ({string.Join(", ", options.StopSequences.Select(sequence => $"[{string.Join(", ", sequence)}]"))}), which ONNX Runtime's GreedySearch and Sampling do not offer (they stop at end-of-text only)");
        Refuse(!options.StopAtEndOfText, nameof(GenerationOptions.StopAtEndOfText),
            "false, but the exported generator always stops at end-of-text");
        Refuse(options.LogProbabilities is not null, nameof(GenerationOptions.LogProbabilities),
            $"{options.LogProbabilities}, but the exported generator returns tokens only");
        Refuse(sampling && options.Seed is < int.MinValue or > int.MaxValue, nameof(GenerationOptions.Seed),
            $"{options.Seed}, which does not fit the 32-bit seed of ONNX Runtime's Sampling operator (use a seed from {int.MinValue} to {int.MaxValue})");
        return reasons.Count == 0 ? null : string.Join("; ", reasons);
    }
}
