using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// The fine-tuning options the GPT-2 trainers here share (the classifier and the instruction tuner); each sets the
/// book's defaults for its task.
/// </summary>
public abstract class Gpt2FineTuningOptions : Gpt2ModelOptions
{
    /// <summary>Sequences per optimizer step.</summary>
    public int BatchSize = 8;

    /// <summary>Passes over the training data.</summary>
    public int MaxEpochs;

    /// <summary>AdamW's learning rate.</summary>
    public double LearningRate = 5e-5;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only.</summary>
    public double WeightDecay = 0.1;

    /// <summary>Steps of linear learning-rate warmup; 0 for none (the book's).</summary>
    public int WarmupSteps;

    /// <summary>Whether the learning rate decays along a cosine to <see cref="MinimumLearningRate"/> by the last step; off (constant, the book's) by default.</summary>
    public bool CosineDecay;

    /// <summary>Where the cosine decay ends.</summary>
    public double MinimumLearningRate;

    /// <summary>Batches whose gradients are averaged into one optimizer step (an effective batch of <see cref="BatchSize"/> times this); 1, none, by default.</summary>
    public int GradientAccumulationSteps = 1;

    /// <summary>When set, gradients are clipped to this global L2 norm before each update; null, no clipping (the book's), by default.</summary>
    public double? MaxGradientNorm;

    /// <summary>
    /// The precision of training's forward and backward passes: <see cref="Precision.BFloat16"/> keeps float32 master
    /// weights and optimizer state and computes in bfloat16 (about twice as fast on CPUs and GPUs with bfloat16 units);
    /// the fitted model is float32 either way.
    /// </summary>
    public Precision Precision = Precision.Float32;

    /// <summary>Evaluate every this many steps (and after the last one); 0 evaluates after each epoch only.</summary>
    public int EvaluationInterval;

    /// <summary>
    /// Report a step (and read its loss back from the device) every this many steps; null: every step on the CPU, every
    /// 10 on a GPU, where each read waits for the device.
    /// </summary>
    public int? LogInterval;

    /// <summary>
    /// Where training writes checkpoints to resume from (one <c>step-NNNNNN</c> folder per checkpoint and a <c>latest</c>
    /// file naming the newest), atomically: at every evaluation (or every <see cref="CheckpointInterval"/> steps), after
    /// the last step, and when cancelled. Null (the default) for none.
    /// </summary>
    public string? CheckpointDirectory;

    /// <summary>Write a checkpoint after every this many steps instead of at every evaluation (null, the default).</summary>
    public int? CheckpointInterval;

    /// <summary>The checkpoints <see cref="CheckpointDirectory"/> keeps, the newest included; older ones are deleted. 3 by default.</summary>
    public int KeepCheckpoints = 3;

    /// <summary>
    /// Continue from the newest checkpoint in <see cref="CheckpointDirectory"/> when there is one, and start afresh when
    /// there is none: a fit stopped (by cancellation, a crash or a kill) and fitted again with this set, the same data and
    /// the same options ends with the weights of an uninterrupted fit. A checkpoint trained with other options is refused.
    /// </summary>
    public bool ResumeFromCheckpoint;

    /// <summary>Called on the training thread every <see cref="LogInterval"/> steps and after the last, with the loss, learning rate, elapsed time, time left and tokens per second.</summary>
    public Action<TrainingStep>? StepCompleted;

    /// <summary>Called on the training thread after every evaluation, with the task's metrics (losses, and a classifier's accuracies).</summary>
    public Action<TrainingEvaluation>? Evaluated;

    /// <summary>Data to evaluate on during training, with the same columns as the training data.</summary>
    public IDataView? ValidationSet;

    /// <summary>Seed of initialisation, shuffling and dropout.</summary>
    public int Seed = 123;

    /// <summary>Which layers train; <see cref="TrainableLayers.LoRA"/> trains low-rank adapters (the book's appendix E), folded into the weights after training.</summary>
    public TrainableLayers TrainableLayers;

    /// <summary>Inner dimension of the adapters when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
    public int LoRARank = 16;

    /// <summary>
    /// Scale of the adapters' update when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>: the book's
    /// alpha x A B (not PEFT's alpha / rank x A B).
    /// </summary>
    public double LoRAAlpha = 16;

    /// <summary>Which linear layers of every block get adapters when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
    public LoRATargets LoRATargets = LoRATargets.All;

    /// <summary>Seeds libtorch's generator with <see cref="Seed"/>, after checking for a backend so that a missing one is named.</summary>
    internal void SeedRandomness()
    {
        TorchBackend.EnsureAvailable();
        TorchSharp.torch.random.manual_seed(Seed);
    }

    /// <summary>
    /// Throws when an option is out of range or contradicts another, naming the option as it is set here (<c>MaxEpochs</c>,
    /// <c>ResumeFromCheckpoint</c>), not as the core trainer calls it.
    /// </summary>
    internal virtual void Validate()
    {
        OptionChecks.AtLeast(BatchSize, 1, nameof(BatchSize), "8");
        OptionChecks.AtLeast(MaxEpochs, 1, nameof(MaxEpochs), "5");
        OptionChecks.Positive(LearningRate, nameof(LearningRate), "5e-5");
        OptionChecks.NonNegative(WeightDecay, nameof(WeightDecay), "0.1, or 0 for none");
        OptionChecks.AtLeast(WarmupSteps, 0, nameof(WarmupSteps), "100, or 0 for no warmup");
        OptionChecks.NonNegative(MinimumLearningRate, nameof(MinimumLearningRate), "0, or a tenth of LearningRate");
        OptionChecks.Requires(!CosineDecay || MinimumLearningRate <= LearningRate, nameof(MinimumLearningRate),
            $"MinimumLearningRate ({MinimumLearningRate}) is above LearningRate ({LearningRate}), so the cosine decay would go up; lower MinimumLearningRate.");
        OptionChecks.AtLeast(GradientAccumulationSteps, 1, nameof(GradientAccumulationSteps), "1 for none, or 4 to average four batches per step");
        if (MaxGradientNorm is double norm)
            OptionChecks.Positive(norm, nameof(MaxGradientNorm), "1.0, or null for no clipping");
        OptionChecks.Defined(Precision, nameof(Precision));
        OptionChecks.AtLeast(EvaluationInterval, 0, nameof(EvaluationInterval), "50, or 0 to evaluate after each epoch");
        if (LogInterval is int logInterval)
            OptionChecks.AtLeast(logInterval, 1, nameof(LogInterval), "10, or null for every step on the CPU and every 10 on a GPU");
        if (CheckpointInterval is int checkpointInterval)
            OptionChecks.AtLeast(checkpointInterval, 1, nameof(CheckpointInterval), "500, or null for a checkpoint at every evaluation");
        OptionChecks.AtLeast(KeepCheckpoints, 1, nameof(KeepCheckpoints), "3");
        OptionChecks.Requires(!ResumeFromCheckpoint || CheckpointDirectory is not null, nameof(ResumeFromCheckpoint),
            "ResumeFromCheckpoint is set but CheckpointDirectory is not: set CheckpointDirectory to the directory to resume from, or turn ResumeFromCheckpoint off.");
        OptionChecks.Defined(TrainableLayers, nameof(TrainableLayers));
        if (TrainableLayers == TrainableLayers.LoRA)
        {
            OptionChecks.AtLeast(LoRARank, 1, nameof(LoRARank), "16");
            OptionChecks.FiniteNonZero(LoRAAlpha, nameof(LoRAAlpha), "16");
            OptionChecks.Check(LoRATargets != LoRATargets.None && (LoRATargets & ~LoRATargets.All) == 0, nameof(LoRATargets), LoRATargets,
                "one or more of the blocks' linear layers (for example LoRATargets.All)");
        }
    }

    /// <summary>
    /// These options as the core trainer's, after <see cref="Validate"/>: the shared hyperparameters set on a
    /// <typeparamref name="TOptions"/> with its task's other defaults.
    /// </summary>
    internal TOptions ToTrainingOptions<TOptions>() where TOptions : FineTuningOptions, new()
    {
        Validate();
        var options = new TOptions
        {
            BatchSize = BatchSize,
            Epochs = MaxEpochs,
            LearningRate = LearningRate,
            WeightDecay = WeightDecay,
            WarmupSteps = WarmupSteps,
            CosineDecay = CosineDecay,
            MinimumLearningRate = MinimumLearningRate,
            GradientAccumulationSteps = GradientAccumulationSteps,
            MaxGradientNorm = MaxGradientNorm,
            Precision = Precision,
            EvaluationInterval = EvaluationInterval,
            LogInterval = LogInterval,
            CheckpointDirectory = CheckpointDirectory,
            CheckpointInterval = CheckpointInterval,
            KeepCheckpoints = KeepCheckpoints,
            ResumeFromCheckpoint = ResumeFromCheckpoint,
            Seed = Seed,
            TrainableLayers = TrainableLayers,
            LoRA = TrainableLayers == TrainableLayers.LoRA ? new LoRAOptions { Rank = LoRARank, Alpha = LoRAAlpha, Targets = LoRATargets } : null,
        };
        options.Validate();
        return options;
    }
}
