using Gpt2.Torch.Generation;

namespace Gpt2.Torch.Training;

/// <summary>How <see cref="LanguageModelTrainer"/> trains; the defaults are the book's chapter 5 run.</summary>
public sealed record LanguageModelTrainingOptions
{
    /// <summary>Passes over the training batches.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>When set, stop after this many optimizer steps in all, even within an epoch.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>AdamW's learning rate (the peak, with warmup or decay).</summary>
    public double LearningRate { get; init; } = 4e-4;

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

    /// <summary>Evaluate after every this many steps (the book's <c>eval_freq</c>), starting after the first; 0 evaluates only at the end.</summary>
    public int EvaluationInterval { get; init; } = 5;

    /// <summary>Batches of each data set whose mean loss is an evaluation's loss (the book's <c>eval_iter</c>): always the first ones.</summary>
    public int EvaluationBatches { get; init; } = 5;

    /// <summary>Tokens that each evaluation continues to show a sample of the model's text; null for no sample.</summary>
    public IReadOnlyList<int>? SamplePrompt { get; init; }

    /// <summary>How the evaluation samples are generated (the book: greedy, 50 tokens).</summary>
    public GenerationOptions SampleGeneration { get; init; } = new() { MaxNewTokens = 50 };

    /// <summary>Seeds the random numbers of dropout at the start of a run, so that a run is reproducible.</summary>
    public int Seed { get; init; } = 123;

    /// <summary>Where checkpoints go (a <c>step-NNNNNN</c> folder per checkpoint and a <c>latest</c> file naming the newest); null for none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Write a checkpoint after every this many steps; 0 writes one only at the end and when cancelled.</summary>
    public int CheckpointInterval { get; init; }

    /// <summary>Throws when an option is out of range.</summary>
    public void Validate()
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
        ArgumentOutOfRangeException.ThrowIfLessThan(EvaluationBatches, 1, nameof(EvaluationBatches));
        ArgumentOutOfRangeException.ThrowIfNegative(CheckpointInterval, nameof(CheckpointInterval));
        if (SamplePrompt is { Count: 0 })
            throw new ArgumentException("SamplePrompt holds no tokens; give at least one, or null for no samples.", nameof(SamplePrompt));
        SampleGeneration.Validate();
        Schedule(totalSteps: long.MaxValue).Validate();
    }

    /// <summary>The learning-rate schedule of a run of <paramref name="totalSteps"/> optimizer steps.</summary>
    public LearningRateSchedule Schedule(long totalSteps) => new()
    {
        PeakLearningRate = LearningRate,
        WarmupSteps = WarmupSteps,
        DecaySteps = CosineDecay ? totalSteps : null,
        MinimumLearningRate = MinimumLearningRate,
    };
}
