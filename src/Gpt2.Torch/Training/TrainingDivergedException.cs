using System.Globalization;

namespace Gpt2.Torch.Training;

/// <summary>
/// Training stopped because a loss it read back was NaN or infinite: the weights have blown up and every later step
/// would only make them worse. Thrown by every trainer at the step (or evaluation) where it sees such a loss; the model
/// is left in that unusable state, so start again from the original weights with a lower learning rate.
/// </summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception for a loss seen at a step.</summary>
    /// <param name="step">The step, numbered as the trainer's progress reports number it.</param>
    /// <param name="loss">The NaN or infinite loss.</param>
    /// <param name="learningRate">The learning rate of that step.</param>
    /// <param name="which">Which loss it was, for example "training loss" or "validation loss".</param>
    public TrainingDivergedException(long step, double loss, double learningRate, string which)
        : base(string.Create(CultureInfo.InvariantCulture,
            $"Training diverged at step {step}: the {which} is {loss} with learning rate {learningRate:R}. The weights have blown up and the model is unusable; train again from the start with a lower learning rate (for example {learningRate / 10:R}), or clip gradients with MaxGradientNorm."))
    {
        Step = step;
        Loss = loss;
        LearningRate = learningRate;
    }

    /// <summary>The step at which the loss was NaN or infinite.</summary>
    public long Step { get; }

    /// <summary>The loss read back: NaN or an infinity.</summary>
    public double Loss { get; }

    /// <summary>The learning rate of that step.</summary>
    public double LearningRate { get; }

    /// <summary>Throws when <paramref name="loss"/> is NaN or infinite; call it where a trainer already reads a loss back (no extra device sync).</summary>
    internal static void ThrowIfNotFinite(double loss, long step, double learningRate, string which)
    {
        if (!double.IsFinite(loss))
            throw new TrainingDivergedException(step, loss, learningRate, which);
    }
}
