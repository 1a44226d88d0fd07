using Gpt2.Torch;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;

namespace Gpt2MLNet.Samples;

/// <summary>
/// Which model a sample starts from: the weights the user named; a GPT-2 preset's published weights when they can be had,
/// else random ones; or a model of another family (SmolLM2, Qwen, Llama) by folder, Hugging Face id or preset name,
/// downloaded with its tokenizer.
/// </summary>
public static class ModelChoice
{
    /// <summary>What <c>--model</c> (or <c>--preset</c>) accepts, for the samples' help.</summary>
    public const string Description =
        "A GPT-2 size (124M, 355M, 774M, 1558M, mini: published weights, random when they cannot be had), a model folder, " +
        "a Hugging Face id (HuggingFaceTB/SmolLM2-135M, Qwen/Qwen2.5-0.5B, ...) or a Llama-family preset name (smollm2-135m, qwen3-0.6b, ...), downloaded with its tokenizer.";

    /// <param name="model">A GPT-2 preset, a model folder, a Hugging Face id or a Llama-family preset name.</param>
    /// <param name="weights">A checkpoint folder, <c>random</c> (GPT-2 presets only: other families need their tokenizer), or null for <paramref name="model"/>'s weights.</param>
    /// <param name="cancellationToken">Stops a download.</param>
    public static async Task<LanguageModelSource> ResolveAsync(string model, string? weights, CancellationToken cancellationToken)
    {
        bool gpt2Preset = Gpt2Config.PresetNames.Contains(model, StringComparer.OrdinalIgnoreCase);
        if (weights is not null && weights.Equals("random", StringComparison.OrdinalIgnoreCase) && !gpt2Preset)
            throw new ArgumentException($"--weights random needs a GPT-2 size ({string.Join(", ", Gpt2Config.PresetNames)}); '{model}' would have no tokenizer. Start from its published weights instead (--model {model}).");
        LanguageModelSource source = weights switch
        {
            null when gpt2Preset => await LanguageModelSource.PublishedOrRandomAsync(model, new ConsoleDownloadProgress(), cancellationToken: cancellationToken),
            // A Llama-family preset name stands for its published model, whose tokenizer comes with it.
            null when !Directory.Exists(model) && LlamaPresetId(model) is string id => LanguageModelSource.Pretrained(id),
            null => LanguageModelSource.Pretrained(model),
            _ when weights.Equals("random", StringComparison.OrdinalIgnoreCase) => LanguageModelSource.Random(model),
            _ => LanguageModelSource.Pretrained(weights),
        };
        Console.WriteLine(source.IsRandom
            ? $"Starting GPT-2 {model} from random initialisation{(weights is null ? " (its published weights cannot be had here)" : "")}."
            : $"Starting from the weights in {source}");
        return source;
    }

    private static string? LlamaPresetId(string name)
    {
        for (int i = 0; i < LlamaConfig.PresetNames.Count; i++)
        {
            if (LlamaConfig.PresetNames[i].Equals(name, StringComparison.OrdinalIgnoreCase))
                return LlamaConfig.PresetIds[i];
        }
        return null;
    }
}
