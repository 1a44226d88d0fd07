using Gpt2.Torch.Training;

namespace SpamClassification;

/// <summary>Prints training progress in the book's form.</summary>
internal static class TrainingLog
{
    public static void Print(ClassificationProgress progress)
    {
        if (progress.Evaluation is not { } evaluation)
            return;
        Console.WriteLine($"Ep {progress.Epoch} (Step {progress.Step:D6}): Train loss {evaluation.TrainLoss:F3}, Val loss {evaluation.ValidationLoss:F3}" +
            $" | Training accuracy {100 * evaluation.TrainAccuracy:F2}%, Validation accuracy {100 * evaluation.ValidationAccuracy:F2}%" +
            $" | {progress.ExamplesSeen} examples seen, step {progress.Step}/{progress.TotalSteps}");
    }
}
