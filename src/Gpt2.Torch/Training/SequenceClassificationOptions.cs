namespace Gpt2.Torch.Training;

/// <summary>Hyperparameters of <see cref="SequenceClassificationTrainer"/>; the defaults are the book's (chapter 6).</summary>
public sealed record SequenceClassificationOptions : FineTuningOptions
{
    /// <inheritdoc />
    public override int Epochs { get; init; } = 5;

    /// <inheritdoc />
    public override int EvaluationInterval { get; init; } = 50;

    /// <summary>When set, gradients are clipped to this global L2 norm before each step.</summary>
    public double? MaxGradientNorm { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (MaxGradientNorm is double norm)
            OptionChecks.Positive(norm, nameof(MaxGradientNorm), "1.0, or null for no clipping");
    }
}
