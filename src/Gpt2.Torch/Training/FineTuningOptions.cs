namespace Gpt2.Torch.Training;

/// <summary>The hyperparameters every fine-tuning trainer shares; the defaults are the book's (constant learning rate, no clipping, no accumulation).</summary>
public abstract record FineTuningOptions : TrainingOptions
{
    /// <summary>Sequences per batch; a step takes <see cref="TrainingOptions.GradientAccumulationSteps"/> batches.</summary>
    public int BatchSize { get; init; } = 8;

    /// <inheritdoc />
    public override double LearningRate { get; init; } = 5e-5;

    /// <summary>Evaluate after every this many steps (counted from 1) and after the last; 0 evaluates after each epoch only.</summary>
    public abstract override int EvaluationInterval { get; init; }

    /// <summary>
    /// Continue from the newest checkpoint in <see cref="TrainingOptions.CheckpointDirectory"/> when there is one (the
    /// model's weights, the optimizer, the step, the data position and the random state), with the same data and options.
    /// </summary>
    public bool Resume { get; init; }

    /// <summary>
    /// When set, training adds these low-rank adapters to the model (unless it has them already) and updates only them,
    /// plus a classifier's head; every other parameter is frozen. Fold them in afterwards with <c>Gpt2Model.MergeLoRA</c>.
    /// </summary>
    public Model.LoRAOptions? LoRA { get; init; }

    /// <inheritdoc />
    internal override bool EvaluatesAfter(long step, bool endOfEpoch) =>
        EvaluationInterval > 0 ? (step + 1) % EvaluationInterval == 0 : endOfEpoch;

    /// <inheritdoc />
    public override void Validate()
    {
        if (BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        base.Validate();
        if (Resume && CheckpointDirectory is null)
            throw new ArgumentException("Resume needs a CheckpointDirectory to resume from; set it, or turn Resume off.", nameof(Resume));
        LoRA?.Validate();
    }
}
