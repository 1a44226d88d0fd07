using System.Text.RegularExpressions;
using Spectre.Console;

namespace Gpt2MLNet.Samples.Tests;

/// <summary>Spectre consoles that write into a string: a terminal (interactive, ANSI) or a redirected output.</summary>
internal static partial class TestConsoles
{
    public const char Escape = '\u001b';
    public const string CursorHidden = "\u001b[?25l";
    public const string CursorShown = "\u001b[?25h";

    public static (IAnsiConsole Console, StringWriter Output) Terminal() => Create(live: true);

    public static (IAnsiConsole Console, StringWriter Output) Redirected() => Create(live: false);

    /// <summary>The output's text with the ANSI codes (colours, cursor moves, line erasing) taken out.</summary>
    public static string Visible(string output) => AnsiCode().Replace(output, "");

    /// <summary>The output's lines, without the line break after the last.</summary>
    public static string[] Lines(string output) => output.Split(Environment.NewLine)[..^1];

    private static (IAnsiConsole, StringWriter) Create(bool live)
    {
        var output = new StringWriter();
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = live ? AnsiSupport.Yes : AnsiSupport.No,
            Interactive = live ? InteractionSupport.Yes : InteractionSupport.No,
            ColorSystem = ColorSystemSupport.Standard,
            // A CI's variables would otherwise switch the terminal off.
            Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
        });
        console.Profile.Width = 120;
        return (console, output);
    }

    [GeneratedRegex(@"\u001b\[[0-9;?]*[A-Za-z]")]
    private static partial Regex AnsiCode();
}
