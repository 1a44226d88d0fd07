namespace Gpt2.Torch.Training;

/// <summary>Hyperparameters of <see cref="SequenceClassificationTrainer"/>; the defaults are the book's (chapter 6).</summary>
public sealed record SequenceClassificationOptions : FineTuningOptions
{
    /// <inheritdoc />
    public override int Epochs { get; init; } = 5;

    /// <inheritdoc />
    public override int EvaluationInterval { get; init; } = 50;
}
