namespace Gpt2.Torch.Training;

/// <summary>The hyperparameters every fine-tuning trainer shares; the defaults are the book's.</summary>
public abstract record FineTuningOptions
{
    /// <summary>Sequences per optimizer step.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Passes over the training data.</summary>
    public abstract int Epochs { get; init; }

    /// <summary>AdamW's learning rate.</summary>
    public double LearningRate { get; init; } = 5e-5;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Evaluate every this many steps (and after the last one); 0 evaluates after each epoch only.</summary>
    public abstract int EvaluationInterval { get; init; }

    /// <summary>Seed of the shuffling and of dropout.</summary>
    public int Seed { get; init; } = 123;

    /// <summary>
    /// When set, training adds these low-rank adapters to the model (unless it has them already) and updates only them,
    /// plus a classifier's head; every other parameter is frozen. Fold them in afterwards with <c>Gpt2Model.MergeLoRA</c>.
    /// </summary>
    public Model.LoRAOptions? LoRA { get; init; }

    /// <summary>Throws when an option is out of range.</summary>
    public virtual void Validate()
    {
        if (BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        if (Epochs < 1)
            throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        OptionChecks.Positive(LearningRate, nameof(LearningRate), "5e-5");
        OptionChecks.NonNegative(WeightDecay, nameof(WeightDecay), "0.1, or 0 for none");
        if (EvaluationInterval < 0)
            throw new ArgumentOutOfRangeException(nameof(EvaluationInterval), EvaluationInterval, "EvaluationInterval cannot be negative.");
        LoRA?.Validate();
    }
}
