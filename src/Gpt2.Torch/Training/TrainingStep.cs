namespace Gpt2.Torch.Training;

/// <summary>
/// What an optimizer step of the training loop did, reported every <see cref="TrainingOptions.LogInterval"/> steps
/// (every step on the CPU by default) and after the last.
/// </summary>
/// <param name="Step">The step's index from 0 (the book's <c>global_step</c>).</param>
/// <param name="TotalSteps">Steps the run takes in all.</param>
/// <param name="Epoch">The epoch the step belongs to, from 1.</param>
/// <param name="Loss">The mean training loss, with dropout, over the steps since the previous report (this step's alone when every step reports), each step's being the mean over its accumulated batches.</param>
/// <param name="LearningRate">The learning rate the step used.</param>
/// <param name="GradientNorm">The step's global gradient norm before clipping; null when clipping is off.</param>
/// <param name="TokensSeen">Input tokens trained on so far, this step's included.</param>
public sealed record TrainingStep(long Step, long TotalSteps, int Epoch, double Loss, double LearningRate, double? GradientNorm, long TokensSeen)
{
    /// <summary>Time since this session of the run started training (a resumed run starts again from zero), evaluations included.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Training tokens per second in this session, evaluations included.</summary>
    public double TokensPerSecond { get; init; }

    /// <summary>The estimated time until the last step, at this session's pace so far.</summary>
    public TimeSpan Remaining { get; init; }
}
