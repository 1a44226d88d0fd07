using System.Text.RegularExpressions;
using Spectre.Console;

namespace Gpt2MLNet.Samples.Tests;

[TestClass]
public sealed class ConsolePhaseTests
{
    [TestMethod]
    public void RedirectedAPhaseWritesItsNameThenItsDurationAsPlainLines()
    {
        (IAnsiConsole console, StringWriter output) = TestConsoles.Redirected();
        Assert.AreEqual(42, ConsolePhase.Run("Evaluating on the test set", () => 42, console));

        string[] lines = TestConsoles.Lines(output.ToString());
        Assert.HasCount(2, lines, output.ToString());
        Assert.AreEqual("Evaluating on the test set...", lines[0]);
        Assert.MatchesRegex(new Regex(@"^Evaluating on the test set: done in \d+\.\d s$"), lines[1]);
        Assert.IsFalse(output.ToString().Contains(TestConsoles.Escape, StringComparison.Ordinal), "no ANSI code in a log");
    }

    [TestMethod]
    public void OnATerminalAPhaseSpinsWhileItRunsThenWritesItsDuration()
    {
        (IAnsiConsole console, StringWriter output) = TestConsoles.Terminal();
        bool ran = false;
        ConsolePhase.Run("Saving the model zip", () => ran = true, console);

        Assert.IsTrue(ran);
        string raw = output.ToString();
        StringAssert.Contains(raw, TestConsoles.CursorHidden, "drawn live, with ANSI codes");
        Assert.IsGreaterThan(raw.LastIndexOf(TestConsoles.CursorHidden, StringComparison.Ordinal), raw.LastIndexOf(TestConsoles.CursorShown, StringComparison.Ordinal));
        string[] lines = TestConsoles.Visible(raw).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.MatchesRegex(new Regex(@"^Saving the model zip: done in \d+\.\d s$"), lines[^1]);
    }

    [TestMethod]
    public void AFailingPhaseStopsItsDisplaySaysSoAndPropagatesTheException()
    {
        (IAnsiConsole console, StringWriter output) = TestConsoles.Terminal();
        var error = Assert.ThrowsExactly<IOException>(() => ConsolePhase.Run<int>("Saving the model zip", () => throw new IOException("disk full"), console));
        Assert.AreEqual("disk full", error.Message);
        string raw = output.ToString();
        Assert.IsGreaterThan(raw.LastIndexOf(TestConsoles.CursorHidden, StringComparison.Ordinal), raw.LastIndexOf(TestConsoles.CursorShown, StringComparison.Ordinal), "the cursor is given back");
        StringAssert.Matches(TestConsoles.Visible(raw), new Regex(@"Saving the model zip: failed after \d+\.\d s"));
        Assert.AreEqual(1, ConsolePhase.Run("Reloading", () => 1, console), "the console's exclusive lock was released");

        (IAnsiConsole redirected, StringWriter log) = TestConsoles.Redirected();
        Assert.ThrowsExactly<IOException>(() => ConsolePhase.Run("Saving", () => throw new IOException("disk full"), redirected));
        Assert.MatchesRegex(new Regex(@"^Saving: failed after \d+\.\d s$"), TestConsoles.Lines(log.ToString())[^1]);
    }

    [TestMethod]
    public void DurationsReadAsSecondsUnderAMinuteAndAsAClockFromOneOn()
    {
        Assert.AreEqual("0.0 s", ConsolePhase.Duration(TimeSpan.Zero));
        Assert.AreEqual("12.3 s", ConsolePhase.Duration(TimeSpan.FromSeconds(12.34)));
        Assert.AreEqual("00:01:00", ConsolePhase.Duration(TimeSpan.FromMinutes(1)));
        Assert.AreEqual("26:00:05", ConsolePhase.Duration(TimeSpan.FromHours(26) + TimeSpan.FromSeconds(5)));
    }
}
