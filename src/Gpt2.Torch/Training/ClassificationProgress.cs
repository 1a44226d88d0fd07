namespace Gpt2.Torch.Training;

/// <summary>Where a <see cref="SequenceClassificationTrainer"/> run stands after a step.</summary>
/// <param name="Epoch">The current epoch, from 1.</param>
/// <param name="Step">Optimizer steps taken, from 1.</param>
/// <param name="TotalSteps">Steps the whole run takes.</param>
/// <param name="ExamplesSeen">Training sequences processed so far.</param>
/// <param name="Loss">This step's training loss.</param>
/// <param name="Evaluation">Set on the steps that evaluated.</param>
public sealed record ClassificationProgress(int Epoch, long Step, long TotalSteps, long ExamplesSeen, double Loss, ClassificationEvaluation? Evaluation);

/// <summary>Losses and accuracies measured at an evaluation.</summary>
/// <param name="TrainLoss">Mean training loss over the steps since the previous evaluation.</param>
/// <param name="TrainAccuracy">Accuracy over the training batches since the previous evaluation (in training mode).</param>
/// <param name="ValidationLoss">Mean loss on the validation data, when there is any.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation data, when there is any.</param>
public sealed record ClassificationEvaluation(double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy);
