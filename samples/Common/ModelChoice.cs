using Gpt2.Torch;
using Gpt2.Torch.Downloads;

namespace Gpt2MLNet.Samples;

/// <summary>Which GPT-2 a sample starts from: the weights the user named, or the published ones when they can be had, else random ones.</summary>
public static class ModelChoice
{
    /// <param name="preset">The model size.</param>
    /// <param name="weights">A checkpoint folder, <c>random</c>, or null for the preset's published weights.</param>
    /// <param name="cancellationToken">Stops a download.</param>
    public static async Task<LanguageModelSource> ResolveAsync(string preset, string? weights, CancellationToken cancellationToken)
    {
        LanguageModelSource source = weights switch
        {
            null => await LanguageModelSource.PublishedOrRandomAsync(preset, new ConsoleDownloadProgress(), cancellationToken: cancellationToken),
            _ when weights.Equals("random", StringComparison.OrdinalIgnoreCase) => LanguageModelSource.Random(preset),
            _ => LanguageModelSource.Pretrained(weights),
        };
        Console.WriteLine(source.IsRandom
            ? $"Starting GPT-2 {preset} from random initialisation{(weights is null ? " (its published weights cannot be had here)" : "")}."
            : $"Starting from the weights in {source}");
        return source;
    }
}
