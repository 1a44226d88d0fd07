using Gpt2.Torch.Model;

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
    /// Which parameters the trainer sets trainable before training: any <see cref="Model.TrainableLayers"/> for a
    /// classifier, <see cref="TrainableLayers.All"/> or <see cref="TrainableLayers.LoRA"/> for a language model. Null
    /// (the default): <see cref="TrainableLayers.LoRA"/> when <see cref="LoRA"/> is set, else the model's trainable
    /// parameters as they are.
    /// </summary>
    public TrainableLayers? TrainableLayers { get; init; }

    /// <summary>
    /// The low-rank adapters that <see cref="TrainableLayers.LoRA"/> adds to the model (unless it has them already) and
    /// trains, plus a classifier's head, every other parameter frozen; null: the model's own adapters, or
    /// <see cref="LoRAOptions"/>' defaults. Setting it alone means <see cref="TrainableLayers.LoRA"/>. Fold the adapters in
    /// afterwards with <c>Gpt2Model.MergeLoRA</c>.
    /// </summary>
    public LoRAOptions? LoRA { get; init; }

    /// <inheritdoc />
    internal override bool EvaluatesAfter(long step, bool endOfEpoch) =>
        EvaluationInterval > 0 ? (step + 1) % EvaluationInterval == 0 : endOfEpoch;

    /// <inheritdoc />
    public override void Validate()
    {
        OptionChecks.AtLeast(BatchSize, 1, nameof(BatchSize), "8");
        base.Validate();
        if (TrainableLayers is Model.TrainableLayers layers)
            OptionChecks.Defined(layers, nameof(TrainableLayers));
        OptionChecks.Requires(LoRA is null || TrainableLayers is null or Model.TrainableLayers.LoRA, nameof(LoRA),
            $"LoRA is set but TrainableLayers is {TrainableLayers}: set TrainableLayers to LoRA (or leave it null) to train adapters, or LoRA to null.");
        LoRA?.Validate();
    }
}
