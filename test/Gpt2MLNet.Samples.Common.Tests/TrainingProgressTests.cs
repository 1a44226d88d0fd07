using Gpt2.Torch.Training;
using Spectre.Console;

namespace Gpt2MLNet.Samples.Tests;

[TestClass]
public sealed class TrainingProgressTests
{
    private static TrainingStep Step(long step, long total, double seconds, double loss = 0.5123) =>
        new(step, total, 1, loss, 5e-5, null, 512 * (step + 1))
        {
            Elapsed = TimeSpan.FromSeconds(seconds),
            TokensPerSecond = 1234.5,
            Remaining = TimeSpan.FromSeconds(40),
        };

    private static TrainingEvaluation Evaluation(long step, int[]? sample = null) =>
        new(step, 1, 512 * (step + 1), new Dictionary<string, double>
        {
            [TrainingMetrics.TrainLoss] = 0.4123,
            [TrainingMetrics.ValidationLoss] = 0.6031,
            [TrainingMetrics.TrainAccuracy] = 0.95,
            [TrainingMetrics.ValidationAccuracy] = 0.925,
        }, sample);

    private const string BookLine = "Ep 1 (Step 000009): Train loss 0.412, Val loss 0.603, Train accuracy 95.00%, Val accuracy 92.50%";

    [TestMethod]
    public void OnATerminalTheLiveDisplayShowsStepEpochLossRateSpeedElapsedAndEta()
    {
        (IAnsiConsole console, StringWriter output) = TestConsoles.Terminal();
        var display = new ConsoleTrainingProgress(console: console);
        int result = display.Run(() =>
        {
            display.OnStep(Step(0, 10, 4));
            display.OnStep(Step(2, 10, 12));
            return 7;
        });

        Assert.AreEqual(7, result, "Run hands back what training returned");
        StringAssert.Contains(output.ToString(), TestConsoles.CursorHidden, "drawn live, with ANSI codes");
        string visible = TestConsoles.Visible(output.ToString());
        foreach (string expected in new[] { "Training", "30%", "Step", "Epoch", "Loss", "LR", "Tokens/s", "Elapsed", "ETA", "3/10", "0.512", "5.00e-05", "1234.5", "00:00:12", "00:00:40" })
            StringAssert.Contains(visible, expected);
        StringAssert.EndsWith(output.ToString(), TestConsoles.CursorShown, "the display stops when training returns");
    }

    [TestMethod]
    public void OnATerminalEvaluationsPrintAboveTheDisplayInTheBooksFormWhileItSaysWhatTheRunDoes()
    {
        (IAnsiConsole console, StringWriter output) = TestConsoles.Terminal();
        var display = new ConsoleTrainingProgress(ids => string.Join("\n", ids), console);
        display.Run(() =>
        {
            display.OnStep(Step(4, 10, 5));
            display.OnEvaluation(Evaluation(4, [7, 8]));
            display.OnStep(Step(9, 10, 10));
            display.OnEvaluation(Evaluation(9));
        });

        string visible = TestConsoles.Visible(output.ToString());
        int training = visible.IndexOf("Training", StringComparison.Ordinal);
        int sample = visible.IndexOf("7 8", StringComparison.Ordinal);
        int evaluating = visible.IndexOf("Evaluating", StringComparison.Ordinal);
        int last = visible.IndexOf(BookLine, StringComparison.Ordinal);
        int done = visible.IndexOf("Done", StringComparison.Ordinal);
        StringAssert.Contains(visible, "Ep 1 (Step 000004): Train loss 0.412, Val loss 0.603, Train accuracy 95.00%, Val accuracy 92.50%");
        Assert.IsTrue(training >= 0 && training < sample, "the decoded sample, its line breaks made spaces, follows the training state");
        Assert.IsTrue(sample < evaluating && evaluating < last && last < done,
            $"after the last step the display says it evaluates, the book's line comes, then it says the run is done: {visible}");
        Assert.AreEqual(last, visible.LastIndexOf(BookLine, StringComparison.Ordinal), "an evaluation line is written once, not redrawn");
    }

    [TestMethod]
    public void RedirectedOutputHoldsPlainEvaluationLinesAndAStepLineAtMostEveryInterval()
    {
        (IAnsiConsole console, StringWriter output) = TestConsoles.Redirected();
        var display = new ConsoleTrainingProgress(ids => string.Join("\n", ids), console, stepLineInterval: TimeSpan.FromSeconds(10));
        display.Run(() =>
        {
            display.OnStep(Step(0, 5, 1));
            display.OnStep(Step(1, 5, 5));
            display.OnEvaluation(Evaluation(1, [7, 8]));
            display.OnStep(Step(2, 5, 12));
            display.OnStep(Step(3, 5, 15));
            display.OnStep(Step(4, 5, 17, loss: 0.25));
            display.OnEvaluation(Evaluation(4));
        });

        Assert.IsFalse(output.ToString().Contains(TestConsoles.Escape, StringComparison.Ordinal), "no ANSI code in a log");
        CollectionAssert.AreEqual(new[]
        {
            "step 1/5  epoch 1  loss 0.512  lr 5.00e-05  1234.5 tok/s  00:00:01 elapsed  00:00:40 left",
            "Ep 1 (Step 000001): Train loss 0.412, Val loss 0.603, Train accuracy 95.00%, Val accuracy 92.50%",
            "7 8",
            "step 3/5  epoch 1  loss 0.512  lr 5.00e-05  1234.5 tok/s  00:00:12 elapsed  00:00:40 left",
            "step 5/5  epoch 1  loss 0.250  lr 5.00e-05  1234.5 tok/s  00:00:17 elapsed  00:00:40 left",
            "Ep 1 (Step 000004): Train loss 0.412, Val loss 0.603, Train accuracy 95.00%, Val accuracy 92.50%",
        }, TestConsoles.Lines(output.ToString()), output.ToString());
    }

    [TestMethod]
    public void AFailedRunStopsTheLiveDisplayRethrowsAndLeavesTheConsoleFree()
    {
        (IAnsiConsole console, StringWriter output) = TestConsoles.Terminal();
        var display = new ConsoleTrainingProgress(console: console);
        var error = Assert.ThrowsExactly<TrainingDivergedException>(() => display.Run(() =>
        {
            display.OnStep(Step(0, 10, 1));
            throw new TrainingDivergedException(1, double.NaN, 5e-5, "training loss");
        }));
        Assert.AreEqual(1, error.Step);
        StringAssert.EndsWith(output.ToString(), TestConsoles.CursorShown, "the display stopped and gave the cursor back");

        // Another live display may start (the console's exclusive lock was released), and later steps are plain lines.
        Assert.AreEqual(3, ConsolePhase.Run("Saving", () => 3, console));
        output.GetStringBuilder().Clear();
        display.OnStep(Step(1, 10, 2));
        Assert.AreEqual("step 2/10  epoch 1  loss 0.512  lr 5.00e-05  1234.5 tok/s  00:00:02 elapsed  00:00:40 left" + Environment.NewLine, output.ToString());
    }

    [TestMethod]
    public void StepLinesCountHoursPastADay()
    {
        TrainingStep step = Step(0, 100_000, 3600 * 26 + 61) with { Remaining = TimeSpan.FromHours(100.5) };
        StringAssert.EndsWith(ConsoleTrainingProgress.StepLine(step), "26:01:01 elapsed  100:30:00 left");
    }
}
