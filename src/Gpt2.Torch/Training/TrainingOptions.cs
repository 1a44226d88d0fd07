namespace Gpt2.Torch.Training;

/// <summary>
/// What the training loop needs to know, whatever the task: the optimizer, the learning-rate schedule,
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

    /// <summary>
    /// Where checkpoints go (a <c>step-NNNNNN</c> folder per checkpoint and a <c>latest</c> file naming the newest; see
    /// <see cref="TrainingCheckpoint"/>); null for none. With a directory, the run writes a checkpoint at every
    /// evaluation (or every <see cref="CheckpointInterval"/> steps), after the last step, and when cancelled.
    /// </summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>
    /// Write a checkpoint after every this many steps instead of at every evaluation (null, the default, as nanoGPT
    /// does); either way one is written after the last step and when the run is cancelled.
    /// </summary>
    public int? CheckpointInterval { get; init; }

    /// <summary>
    /// The checkpoints <see cref="CheckpointDirectory"/> keeps, the newest (the one <c>latest</c> names) included: older
    /// ones are deleted as new ones are written. 3 by default.
    /// </summary>
    public int KeepCheckpoints { get; init; } = 3;

    /// <summary>
    /// Continue from the newest checkpoint in <see cref="CheckpointDirectory"/> when there is one (the model's weights, the
    /// optimizer, the step, the data position, the random state and the evaluations), and start a new run when there is
    /// none: a run started again with this set, the same data and the same options after a crash or a kill ends with the
    /// weights of an uninterrupted run. The trainer refuses a checkpoint trained with other options.
    /// </summary>
    public bool ResumeFromCheckpoint { get; init; }

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

    /// <summary>Throws when an option is out of range or options contradict each other; the message names the option.</summary>
    public virtual void Validate()
    {
        OptionChecks.AtLeast(Epochs, 1, nameof(Epochs), "1, or more passes over the data");
        if (MaxSteps is long maxSteps)
            OptionChecks.AtLeast(maxSteps, 1, nameof(MaxSteps), "100, or null to run every epoch");
        OptionChecks.Positive(LearningRate, nameof(LearningRate), "4e-4");
        OptionChecks.NonNegative(WeightDecay, nameof(WeightDecay), "0.1, or 0 for none");
        if (MaxGradientNorm is double norm)
            OptionChecks.Positive(norm, nameof(MaxGradientNorm), "1.0, or null for no clipping");
        OptionChecks.AtLeast(GradientAccumulationSteps, 1, nameof(GradientAccumulationSteps), "1 for none, or 4 to average four batches per step");
        OptionChecks.AtLeast(EvaluationInterval, 0, nameof(EvaluationInterval), "50, or 0 for the task's default cadence");
        if (CheckpointInterval is int checkpointInterval)
            OptionChecks.AtLeast(checkpointInterval, 1, nameof(CheckpointInterval), "500, or null for a checkpoint at every evaluation");
        OptionChecks.AtLeast(KeepCheckpoints, 1, nameof(KeepCheckpoints), "3");
        if (LogInterval is int logInterval)
            OptionChecks.AtLeast(logInterval, 1, nameof(LogInterval), "10, or null for every step on the CPU and every 10 on a GPU");
        OptionChecks.Defined(Precision, nameof(Precision));
        OptionChecks.Requires(!ResumeFromCheckpoint || CheckpointDirectory is not null, nameof(ResumeFromCheckpoint),
            "ResumeFromCheckpoint is set but CheckpointDirectory is not: set CheckpointDirectory to the directory to resume from, or turn ResumeFromCheckpoint off.");
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
