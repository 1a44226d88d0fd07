namespace Gpt2.Torch.Training;

/// <summary>
/// The learning rate at each optimizer step: a linear warmup to <see cref="PeakLearningRate"/>, then a cosine
/// decay to <see cref="MinimumLearningRate"/> at step <see cref="DecaySteps"/>; without warmup and decay it is constant.
/// </summary>
public sealed record LearningRateSchedule
{
    /// <summary>The learning rate after warmup, and the constant rate when there is no decay.</summary>
    public double PeakLearningRate { get; init; } = 4e-4;

    /// <summary>Steps of linear warmup: step s (from 0) runs at peak x (s + 1) / warmup, so no step runs at rate 0.</summary>
    public int WarmupSteps { get; init; }

    /// <summary>The step at which the cosine decay reaches the minimum (usually the run's total steps); null for no decay.</summary>
    public long? DecaySteps { get; init; }

    /// <summary>Where the cosine decay ends; the rate stays there after <see cref="DecaySteps"/>.</summary>
    public double MinimumLearningRate { get; init; }

    /// <summary>A schedule that keeps <paramref name="learningRate"/> at every step.</summary>
    public static LearningRateSchedule Constant(double learningRate) => new() { PeakLearningRate = learningRate };

    /// <summary>Throws when the schedule cannot be followed.</summary>
    public void Validate()
    {
        OptionChecks.Positive(PeakLearningRate, nameof(PeakLearningRate), "4e-4");
        OptionChecks.NonNegative(MinimumLearningRate, nameof(MinimumLearningRate), "0, or a tenth of the peak");
        OptionChecks.Requires(DecaySteps is null || MinimumLearningRate <= PeakLearningRate, nameof(MinimumLearningRate),
            $"MinimumLearningRate ({MinimumLearningRate}) is above the peak learning rate ({PeakLearningRate}), so the decay would go up; lower MinimumLearningRate.");
        OptionChecks.AtLeast(WarmupSteps, 0, nameof(WarmupSteps), "100, or 0 for no warmup");
        OptionChecks.Requires(DecaySteps is not long decay || decay > WarmupSteps, nameof(DecaySteps),
            $"DecaySteps ({DecaySteps}) must be larger than WarmupSteps ({WarmupSteps}): the decay starts after the warmup.");
    }

    /// <summary>The learning rate of optimizer step <paramref name="step"/> (counted from 0).</summary>
    public double LearningRateAt(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (step < WarmupSteps)
            return PeakLearningRate * (step + 1) / WarmupSteps;
        if (DecaySteps is not long decay)
            return PeakLearningRate;
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / (decay - WarmupSteps));
        return MinimumLearningRate + (PeakLearningRate - MinimumLearningRate) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}
