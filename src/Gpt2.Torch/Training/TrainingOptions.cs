namespace Gpt2.Torch.Training;

/// <summary>
/// What <see cref="TrainingLoop"/> needs to know, whatever the task: the optimizer, the learning-rate schedule,
/// accumulation, clipping, evaluation and checkpoint cadence, precision and seed. Each task's options derive from it
/// with their own defaults (the book's settings for that task).
/// </summary>
public abstract record TrainingOptions
{
    /// <summary>Passes over the training batches.</summary>
    public abstract int Epochs { get; init; }

    /// <summary>When set, stop after this many optimizer steps in all, even within an epoch.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>AdamW's learning rate (the peak, with warmup or decay).</summary>
    public abstract double LearningRate { get; init; }

    /// <summary>AdamW's decoupled weight decay, applied to weight matrices only (not to biases and LayerNorm parameters).</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Steps of linear learning-rate warmup; 0 for none.</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Whether the learning rate decays along a cosine to <see cref="MinimumLearningRate"/> by the last step.</summary>
    public bool CosineDecay { get; init; }

    /// <summary>Where the cosine decay ends.</summary>
    public double MinimumLearningRate { get; init; }

    /// <summary>When set, gradients are clipped to this global L2 norm before each update.</summary>
    public double? MaxGradientNorm { get; init; }

    /// <summary>Batches whose gradients are averaged into one optimizer step.</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>How often an evaluation runs; each task's options say how they count (see their documentation).</summary>
    public abstract int EvaluationInterval { get; init; }

    /// <summary>Seeds the random numbers of dropout (and a fine-tuning task's shuffling) at the start of a run, so that a run is reproducible.</summary>
    public int Seed { get; init; } = 123;

    /// <summary>Where checkpoints go (a <c>step-NNNNNN</c> folder per checkpoint and a <c>latest</c> file naming the newest); null for none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Write a checkpoint after every this many steps; 0 writes one only at the end and when cancelled.</summary>
    public int CheckpointInterval { get; init; }

    /// <summary>
    /// The precision of the forward and backward passes: <see cref="Precision.BFloat16"/> keeps float32 master weights and
    /// AdamW state, computes in bfloat16 and takes the loss in float32; the model is float32 again when training ends.
    /// </summary>
    public Precision Precision { get; init; } = Precision.Float32;

    /// <summary>
    /// On a CUDA device in <see cref="Precision.Float32"/>, whether matrix products may use TF32 tensor cores (inputs
    /// rounded to 10 mantissa bits, float32 sums), as nanoGPT sets: several times faster on Ampere and later GPUs. Set
    /// for the run and restored when it ends; the CPU ignores it.
    /// </summary>
    public bool AllowTF32 { get; init; } = true;

    /// <summary>
    /// Read the training loss back from the device (and report a step) every this many steps, and at the last: the only
    /// host-device synchronisation of a step. Null: every step on the CPU, where reading costs nothing, every 10 on a GPU.
    /// </summary>
    public int? LogInterval { get; init; }

    /// <summary>Whether to evaluate after step <paramref name="step"/> (from 0); the last step always evaluates.</summary>
    /// <param name="step">The step just taken, from 0.</param>
    /// <param name="endOfEpoch">Whether it was the last step of its epoch.</param>
    internal abstract bool EvaluatesAfter(long step, bool endOfEpoch);

    /// <summary>Throws when an option is out of range.</summary>
    public virtual void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Epochs, 1, nameof(Epochs));
        if (MaxSteps is < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxSteps), MaxSteps, "MaxSteps must be at least 1 when set.");
        OptionChecks.Positive(LearningRate, nameof(LearningRate), "4e-4");
        OptionChecks.NonNegative(WeightDecay, nameof(WeightDecay), "0.1, or 0 for none");
        if (MaxGradientNorm is double norm)
            OptionChecks.Positive(norm, nameof(MaxGradientNorm), "1.0, or null for no clipping");
        ArgumentOutOfRangeException.ThrowIfLessThan(GradientAccumulationSteps, 1, nameof(GradientAccumulationSteps));
        ArgumentOutOfRangeException.ThrowIfNegative(EvaluationInterval, nameof(EvaluationInterval));
        ArgumentOutOfRangeException.ThrowIfNegative(CheckpointInterval, nameof(CheckpointInterval));
        if (LogInterval is < 1)
            throw new ArgumentOutOfRangeException(nameof(LogInterval), LogInterval, "LogInterval must be at least 1 when set (null: 1 on the CPU, 10 on a GPU).");
        if (!Enum.IsDefined(Precision))
            throw new ArgumentOutOfRangeException(nameof(Precision), Precision, "Precision must be Float32 or BFloat16.");
        Schedule(totalSteps: long.MaxValue).Validate();
    }

    /// <summary>The learning-rate schedule of a run of <paramref name="totalSteps"/> optimizer steps.</summary>
    internal LearningRateSchedule Schedule(long totalSteps) => new()
    {
        PeakLearningRate = LearningRate,
        WarmupSteps = WarmupSteps,
        DecaySteps = CosineDecay ? totalSteps : null,
        MinimumLearningRate = MinimumLearningRate,
    };
}
