using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Gpt2MLNet.Samples;

/// <summary>
/// Shows a long step of a sample that is not training (evaluating, saving, reloading). On an interactive terminal: a
/// spinner with the step's name and the time elapsed while it runs, then <c>NAME: done in 12.3 s</c>. Elsewhere
/// (output redirected to a log or CI): plain lines without ANSI codes, <c>NAME...</c> before and
/// <c>NAME: done in 12.3 s</c> after. A step that throws ends with <c>NAME: failed after 1.2 s</c>, and the exception
/// goes on to the caller.
/// </summary>
public static class ConsolePhase
{
    /// <summary>Runs <paramref name="work"/> as the step <paramref name="name"/>.</summary>
    /// <param name="name">What the step does, e.g. <c>Evaluating on the test set</c>.</param>
    /// <param name="work">The step; nothing else may draw live on the console while it runs.</param>
    /// <param name="console">Where to draw; <see cref="AnsiConsole.Console"/> (standard output) when null.</param>
    /// <returns>What <paramref name="work"/> returned.</returns>
    public static T Run<T>(string name, Func<T> work, IAnsiConsole? console = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(work);
        console ??= AnsiConsole.Console;
        bool live = IsLive(console);
        if (!live)
            Plain(console, $"{name}...");
        var clock = Stopwatch.StartNew();
        T result;
        try
        {
            result = live
                ? new Progress(console)
                    .Columns(new SpinnerColumn(), new TaskDescriptionColumn { Alignment = Justify.Left }, new ElapsedTimeColumn())
                    .AutoClear(true)
                    .Start(context =>
                    {
                        context.AddTask(Markup.Escape(name)).IsIndeterminate = true;
                        return work();
                    })
                : work();
        }
        catch
        {
            Finish(console, live, $"{name}: ", "failed after", clock.Elapsed, "red");
            throw;
        }
        Finish(console, live, $"{name}: ", "done in", clock.Elapsed, "green");
        return result;
    }

    /// <summary>Runs <paramref name="work"/> as the step <paramref name="name"/>, as <see cref="Run{T}"/> does.</summary>
    public static void Run(string name, Action work, IAnsiConsole? console = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        Run(name, () =>
        {
            work();
            return 0;
        }, console);
    }

    /// <summary>A duration as the displays write it: <c>12.3 s</c> under a minute, <c>00:02:05</c> from one on.</summary>
    public static string Duration(TimeSpan duration) =>
        duration < TimeSpan.FromMinutes(1)
            ? string.Create(CultureInfo.InvariantCulture, $"{duration.TotalSeconds:F1} s")
            : Clock(duration);

    /// <summary>Whether <paramref name="console"/> can draw a live display: an interactive terminal that takes ANSI codes.</summary>
    internal static bool IsLive(IAnsiConsole console) => console.Profile.Capabilities is { Interactive: true, Ansi: true };

    /// <summary>Hours (past 24 too), minutes and seconds: <c>00:00:40</c>, <c>26:03:00</c>.</summary>
    internal static string Clock(TimeSpan time) =>
        string.Create(CultureInfo.InvariantCulture, $"{(int)time.TotalHours:00}:{time.Minutes:00}:{time.Seconds:00}");

    private static void Finish(IAnsiConsole console, bool live, string prefix, string outcome, TimeSpan elapsed, string colour)
    {
        if (live)
            console.MarkupLine($"{Markup.Escape(prefix)}[{colour}]{outcome}[/] {Duration(elapsed)}");
        else
            Plain(console, $"{prefix}{outcome} {Duration(elapsed)}");
    }

    // Unwrapped, so that a log line stays one line whatever width the console assumes.
    internal static void Plain(IAnsiConsole console, string line)
    {
        TextWriter writer = console.Profile.Out.Writer;
        writer.WriteLine(line);
        writer.Flush();
    }
}
