using System.Globalization;
using System.Text;

namespace Gpt2.Torch.Templates;

/// <summary>
/// <c>strftime_now(format)</c>: Python's strftime in the C locale for the directives date lines use
/// (<c>%d %b %Y</c> gives "26 Jul 2024"); an unknown directive is refused rather than printed wrong.
/// </summary>
internal static class StrftimeFormatter
{
    public static string Format(DateTimeOffset time, string format, SourcePosition position)
    {
        var invariant = CultureInfo.InvariantCulture;
        var builder = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                builder.Append(format[i]);
                continue;
            }
            char directive = format[++i];
            bool noPad = false;
            if (directive == '-' && i + 1 < format.Length)
            {
                // glibc's %-d: no zero padding.
                noPad = true;
                directive = format[++i];
            }
            string Pad(int value, int width) => noPad ? value.ToString(invariant) : value.ToString(new string('0', width), invariant);
            builder.Append(directive switch
            {
                'd' => Pad(time.Day, 2),
                'e' => time.Day.ToString(invariant).PadLeft(2),
                'm' => Pad(time.Month, 2),
                'y' => Pad(time.Year % 100, 2),
                'Y' => time.Year.ToString(invariant),
                'H' => Pad(time.Hour, 2),
                'I' => Pad(time.Hour % 12 == 0 ? 12 : time.Hour % 12, 2),
                'M' => Pad(time.Minute, 2),
                'S' => Pad(time.Second, 2),
                'j' => Pad(time.DayOfYear, 3),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'b' or 'h' => invariant.DateTimeFormat.GetAbbreviatedMonthName(time.Month),
                'B' => invariant.DateTimeFormat.GetMonthName(time.Month),
                'a' => invariant.DateTimeFormat.GetAbbreviatedDayName(time.DayOfWeek),
                'A' => invariant.DateTimeFormat.GetDayName(time.DayOfWeek),
                'F' => time.ToString("yyyy-MM-dd", invariant),
                'T' => time.ToString("HH:mm:ss", invariant),
                '%' => "%",
                _ => throw position.Error($"strftime_now: the directive '%{directive}' is not supported"),
            });
        }
        return builder.ToString();
    }
}
