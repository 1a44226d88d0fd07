using System.Globalization;
using System.Text;

namespace Gpt2Server.Metrics;

/// <summary>
/// Prometheus' text exposition format (version 0.0.4): <c># HELP</c> and <c># TYPE</c> lines, then one
/// <c>name{labels} value</c> line per sample.
/// </summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static void Family(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\").Replace("\n", "\\n")).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    public static void Sample(StringBuilder text, string name, string labels, double value) =>
        text.Append(name).Append('{').Append(labels).Append("} ").Append(Number(value)).Append('\n');

    /// <summary><c>name="value"</c> pairs, the values escaped as the format asks.</summary>
    public static string Labels(params (string Name, string Value)[] labels) =>
        string.Join(",", labels.Select(label => $"{label.Name}=\"{label.Value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n")}\""));

    public static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);
}
