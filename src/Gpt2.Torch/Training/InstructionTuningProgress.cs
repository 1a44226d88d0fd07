namespace Gpt2.Torch.Training;

/// <summary>Where an <see cref="InstructionTrainer"/> run stands after a step.</summary>
/// <param name="Epoch">The current epoch, from 1.</param>
/// <param name="Step">Optimizer steps taken, from 1.</param>
/// <param name="TotalSteps">Steps the whole run takes.</param>
/// <param name="TokensSeen">Input tokens processed so far, padding included (as the book counts them).</param>
/// <param name="Loss">This step's training loss.</param>
/// <param name="TrainLoss">At an evaluation: the mean training loss over the steps since the previous one.</param>
/// <param name="ValidationLoss">At an evaluation with validation data: the mean loss over it.</param>
public sealed record InstructionTuningProgress(int Epoch, long Step, long TotalSteps, long TokensSeen, double Loss, double? TrainLoss, double? ValidationLoss)
{
    /// <summary>Whether this step evaluated.</summary>
    public bool IsEvaluation => TrainLoss is not null;
}
