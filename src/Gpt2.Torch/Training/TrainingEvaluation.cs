using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;

namespace Gpt2.Torch.Training;

/// <summary>An evaluation during training: the task's metrics (see <see cref="TrainingMetrics"/> for the names), with dropout off.</summary>
/// <param name="Step">Index (from 0) of the last step taken before the evaluation.</param>
/// <param name="Epoch">The epoch of that step, from 1.</param>
/// <param name="TokensSeen">Input tokens trained on so far.</param>
/// <param name="Metrics">The task's measurements by name: always <see cref="TrainingMetrics.TrainLoss"/>, and more as the task and its data give them.</param>
/// <param name="Sample">A language model's sample prompt followed by its continuation; null otherwise.</param>
[method: JsonConstructor]
public sealed record TrainingEvaluation(long Step, int Epoch, long TokensSeen, IReadOnlyDictionary<string, double> Metrics, int[]? Sample)
{
    /// <summary>An evaluation with a training and a validation loss (a language model's).</summary>
    internal TrainingEvaluation(long step, int epoch, long tokensSeen, double trainLoss, double validationLoss, int[]? sample)
        : this(step, epoch, tokensSeen, new Dictionary<string, double> { [TrainingMetrics.TrainLoss] = trainLoss, [TrainingMetrics.ValidationLoss] = validationLoss }, sample)
    {
    }

    /// <summary>The training loss (<see cref="TrainingMetrics.TrainLoss"/>).</summary>
    [JsonIgnore]
    public double TrainLoss => Metrics[TrainingMetrics.TrainLoss];

    /// <summary>The validation loss (<see cref="TrainingMetrics.ValidationLoss"/>); NaN when the run has no validation data.</summary>
    [JsonIgnore]
    public double ValidationLoss => Metrics.GetValueOrDefault(TrainingMetrics.ValidationLoss, double.NaN);

    /// <summary>exp(<see cref="TrainLoss"/>).</summary>
    [JsonIgnore]
    public double TrainPerplexity => Math.Exp(TrainLoss);

    /// <summary>exp(<see cref="ValidationLoss"/>): how many tokens the model is as unsure between as a uniform guess would be.</summary>
    [JsonIgnore]
    public double ValidationPerplexity => Math.Exp(ValidationLoss);

    /// <summary>Time since this session of the run started training; zero for evaluations read from a checkpoint.</summary>
    [JsonIgnore]
    public TimeSpan Elapsed { get; init; }

    /// <summary>
    /// The book's progress line, <c>Ep 1 (Step 000000): Train loss 9.781, Val loss 9.923</c>, followed by the accuracies
    /// (<c>, Train accuracy 95.00%, Val accuracy 92.50%</c>) when the task measures them.
    /// </summary>
    public override string ToString()
    {
        var line = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"Ep {Epoch} (Step {Step:D6}): Train loss {TrainLoss:F3}"));
        if (Metrics.TryGetValue(TrainingMetrics.ValidationLoss, out double validationLoss))
            line.Append(CultureInfo.InvariantCulture, $", Val loss {validationLoss:F3}");
        if (Metrics.TryGetValue(TrainingMetrics.TrainAccuracy, out double trainAccuracy))
            line.Append(CultureInfo.InvariantCulture, $", Train accuracy {100 * trainAccuracy:F2}%");
        if (Metrics.TryGetValue(TrainingMetrics.ValidationAccuracy, out double validationAccuracy))
            line.Append(CultureInfo.InvariantCulture, $", Val accuracy {100 * validationAccuracy:F2}%");
        return line.ToString();
    }
}

/// <summary>The names of the metrics in <see cref="TrainingEvaluation.Metrics"/>.</summary>
public static class TrainingMetrics
{
    /// <summary>
    /// The training loss: for a language model, the mean over the first evaluation batches with dropout off (the book's);
    /// for fine-tuning, the mean of the step losses since the previous evaluation (with dropout).
    /// </summary>
    public const string TrainLoss = "train_loss";

    /// <summary>The mean loss on the validation data, with dropout off.</summary>
    public const string ValidationLoss = "validation_loss";

    /// <summary>A classifier's accuracy over the training batches since the previous evaluation (in training mode).</summary>
    public const string TrainAccuracy = "train_accuracy";

    /// <summary>A classifier's accuracy on the validation data.</summary>
    public const string ValidationAccuracy = "validation_accuracy";
}
