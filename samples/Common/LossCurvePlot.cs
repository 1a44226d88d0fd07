using Gpt2.Torch.Training;
using ScottPlot;

namespace Gpt2MLNet.Samples;

/// <summary>
/// The book's training plots: training and validation loss (or accuracy) against steps, with tokens seen on the top axis,
/// as PNG.
/// </summary>
public static class LossCurvePlot
{
    /// <summary>
    /// Draws the <paramref name="metric"/> of <paramref name="evaluations"/> (<c>loss</c>, or <c>accuracy</c> for a
    /// classifier: the metrics <c>train_METRIC</c> and <c>validation_METRIC</c>) and writes the PNG to
    /// <paramref name="path"/>, atomically.
    /// </summary>
    public static void Save(string path, IReadOnlyList<TrainingEvaluation> evaluations, int width = 800, int height = 500, string metric = "loss")
    {
        ArgumentNullException.ThrowIfNull(evaluations);
        if (evaluations.Count == 0)
            throw new ArgumentException("There is no evaluation to plot; train for at least one step first.", nameof(evaluations));
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 100);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 100);

        string trainName = $"train_{metric}", validationName = $"validation_{metric}";
        if (!evaluations.All(e => e.Metrics.ContainsKey(trainName)))
            throw new ArgumentException($"The evaluations have no '{trainName}' metric to plot.", nameof(metric));

        var plot = new Plot();
        double[] steps = [.. evaluations.Select(e => (double)e.Step)];
        var train = plot.Add.ScatterLine(steps, evaluations.Select(e => e.Metrics[trainName]).ToArray());
        train.LegendText = $"Training {metric}";
        double[] validationValues = [.. evaluations.Select(e => e.Metrics.GetValueOrDefault(validationName, double.NaN))];
        if (validationValues.Any(value => !double.IsNaN(value))) // a run without validation data has none
        {
            var validation = plot.Add.ScatterLine(steps, validationValues);
            validation.LegendText = $"Validation {metric}";
            validation.LinePattern = LinePattern.DenselyDashed;
        }
        plot.XLabel("Steps");
        plot.YLabel(char.ToUpperInvariant(metric[0]) + metric[1..]);
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.AutoScale();

        // Every step trains on the same number of tokens, so tokens seen after step s (from 0) are (s + 1) x tokens per step:
        // a top axis with limits scaled the same way lines up with the bottom one.
        TrainingEvaluation last = evaluations[^1];
        double tokensPerStep = last.TokensSeen / (double)(last.Step + 1);
        AxisLimits limits = plot.Axes.GetLimits();
        // ScottPlot 5.1 clips a top axis label away (ScottPlot#5243), so the title, just above the axis, names it.
        plot.Title("Tokens seen", plot.Axes.Bottom.Label.FontSize);
        plot.Axes.SetLimitsX((limits.Left + 1) * tokensPerStep, (limits.Right + 1) * tokensPerStep, plot.Axes.Top);

        byte[] png = plot.GetImageBytes(width, height, ImageFormat.Png);
        OutputFile.WriteAllBytes(path, png);
    }
}
