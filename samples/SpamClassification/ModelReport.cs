using Microsoft.ML;
using Microsoft.ML.Data;
using Gpt2MLNet.Samples;

namespace SpamClassification;

/// <summary>One model's validation and test metrics, from ML.NET's evaluator.</summary>
internal sealed record ModelReport(string Name, MulticlassClassificationMetrics Validation, MulticlassClassificationMetrics Test, TimeSpan TrainingTime)
{
    public static ModelReport Evaluate(string name, MLContext mlContext, ITransformer model, SpamSplits splits, TimeSpan trainingTime)
    {
        (MulticlassClassificationMetrics validation, MulticlassClassificationMetrics test) = ConsolePhase.Run(
            $"Evaluating {name} on the validation and test sets",
            () => (Metrics(mlContext, model, splits.Validation), Metrics(mlContext, model, splits.Test)));
        var report = new ModelReport(name, validation, test, trainingTime);
        Console.WriteLine($"\n{name} (trained in {trainingTime:hh\\:mm\\:ss})");
        Console.WriteLine($"Validation accuracy: {100 * report.Validation.MicroAccuracy:F2}%");
        Console.WriteLine($"Test accuracy: {100 * report.Test.MicroAccuracy:F2}%");
        Console.WriteLine(report.Test.ConfusionMatrix.GetFormattedConfusionTable());
        return report;
    }

    public static void PrintSideBySide(params ModelReport[] reports)
    {
        Console.WriteLine($"\n{"",-36}{string.Join("", reports.Select(r => $"{r.Name,36}"))}");
        void Row(string label, Func<ModelReport, string> value) =>
            Console.WriteLine($"{label,-36}{string.Join("", reports.Select(r => $"{value(r),36}"))}");
        Row("Validation accuracy", r => $"{100 * r.Validation.MicroAccuracy:F2}%");
        Row("Test accuracy", r => $"{100 * r.Test.MicroAccuracy:F2}%");
        Row("Test macro-F1", r => $"{100 * MacroF1(r.Test):F2}%");
        Row("Test log-loss", r => $"{r.Test.LogLoss:F4}");
        Row("Training time", r => $"{r.TrainingTime:hh\\:mm\\:ss}");
    }

    private static MulticlassClassificationMetrics Metrics(MLContext mlContext, ITransformer model, IDataView data) =>
        mlContext.MulticlassClassification.Evaluate(model.Transform(data));

    // ML.NET reports per-class precision and recall; macro-F1 is the mean of the per-class F1 scores.
    private static double MacroF1(MulticlassClassificationMetrics metrics)
    {
        ConfusionMatrix matrix = metrics.ConfusionMatrix;
        return Enumerable.Range(0, matrix.NumberOfClasses).Average(c =>
        {
            double precision = matrix.PerClassPrecision[c], recall = matrix.PerClassRecall[c];
            return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        });
    }
}
