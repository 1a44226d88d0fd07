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
            $" | Training accuracy {evaluation.TrainAccuracy:P2}, Validation accuracy {evaluation.ValidationAccuracy:P2}" +
            $" | {progress.ExamplesSeen} examples seen, step {progress.Step}/{progress.TotalSteps}");
    }
}
