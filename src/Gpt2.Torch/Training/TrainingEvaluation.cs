using System.Globalization;
using System.Text.Json.Serialization;

namespace Gpt2.Torch.Training;

/// <summary>An evaluation during training: mean losses over fixed batches, with dropout off.</summary>
/// <param name="Step">Index (from 0) of the last step taken before the evaluation.</param>
/// <param name="Epoch">The epoch of that step, from 1.</param>
/// <param name="TokensSeen">Input tokens trained on so far.</param>
/// <param name="TrainLoss">Mean cross-entropy over the first evaluation batches of the training data.</param>
/// <param name="ValidationLoss">Mean cross-entropy over the first evaluation batches of the validation data.</param>
/// <param name="Sample">The sample prompt followed by the model's continuation; null without a prompt.</param>
public sealed record TrainingEvaluation(long Step, int Epoch, long TokensSeen, double TrainLoss, double ValidationLoss, int[]? Sample)
{
    /// <summary>exp(<see cref="TrainLoss"/>).</summary>
    [JsonIgnore]
    public double TrainPerplexity => Math.Exp(TrainLoss);

    /// <summary>exp(<see cref="ValidationLoss"/>): how many tokens the model is as unsure between as a uniform guess would be.</summary>
    [JsonIgnore]
    public double ValidationPerplexity => Math.Exp(ValidationLoss);

    /// <summary>The book's progress line: <c>Ep 1 (Step 000000): Train loss 9.781, Val loss 9.923</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"Ep {Epoch} (Step {Step:D6}): Train loss {TrainLoss:F3}, Val loss {ValidationLoss:F3}");
}
