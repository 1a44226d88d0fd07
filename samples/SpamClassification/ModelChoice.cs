using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using Microsoft.ML.Gpt2.Classification;
using Gpt2MLNet.Samples;

namespace SpamClassification;

/// <summary>Which GPT-2 the sample starts from: published weights when they can be had, else random ones.</summary>
internal static class ModelChoice
{
    public static async Task<Gpt2TextClassifier.Options> ResolveAsync(string preset, string? weights, CancellationToken cancellationToken)
    {
        if (weights is not null && !weights.Equals("random", StringComparison.OrdinalIgnoreCase))
        {
            Console.WriteLine($"Starting from the weights in {weights}");
            return new Gpt2TextClassifier.Options { BaseModel = weights };
        }
        if (weights is null && HuggingFaceHub.PublishedGpt2Models.Contains(HuggingFaceHub.ResolveModelId(preset)))
        {
            try
            {
                string folder = await new HuggingFaceHub().DownloadModelAsync(HuggingFaceHub.ResolveModelId(preset), new ConsoleDownloadProgress(), cancellationToken);
                Console.WriteLine($"Starting from the published {preset} weights ({folder})");
                return new Gpt2TextClassifier.Options { BaseModel = folder };
            }
            catch (DownloadException e)
            {
                Console.WriteLine($"Published weights unavailable ({e.Message.Split(". ")[0]}).");
            }
        }
        // The book's row 8: random weights, every layer trainable.
        Console.WriteLine($"Training GPT-2 {preset} from random initialisation (all layers trainable unless --trainable says otherwise).");
        return new Gpt2TextClassifier.Options
        {
            ModelConfig = Gpt2Config.FromPreset(preset),
            TrainableLayers = TrainableLayers.All,
        };
    }
}
