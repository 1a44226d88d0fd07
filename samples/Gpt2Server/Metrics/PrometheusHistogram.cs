using System.Globalization;
using System.Text;

namespace Gpt2Server.Metrics;

/// <summary>A Prometheus histogram with fixed upper bounds: cumulative <c>_bucket{le}</c> counts, <c>_sum</c> and <c>_count</c>.</summary>
internal sealed class PrometheusHistogram(string name, string help, double[] upperBounds)
{
    private readonly long[] _counts = new long[upperBounds.Length + 1];   // the last one counts values above every bound (+Inf)
    private readonly Lock _sync = new();
    private double _sum;

    /// <summary>Records <paramref name="count"/> observations of <paramref name="value"/>.</summary>
    public void Observe(double value, int count = 1)
    {
        if (count <= 0)
            return;
        int bucket = Array.FindIndex(upperBounds, bound => value <= bound);
        lock (_sync)
        {
            _counts[bucket < 0 ? upperBounds.Length : bucket] += count;
            _sum += value * count;
        }
    }

    public void Write(StringBuilder text, string labels)
    {
        long[] counts;
        double sum;
        lock (_sync)
        {
            counts = [.. _counts];
            sum = _sum;
        }
        PrometheusText.Family(text, name, "histogram", help);
        long cumulative = 0;
        for (int i = 0; i <= upperBounds.Length; i++)
        {
            cumulative += counts[i];
            string le = i < upperBounds.Length ? PrometheusText.Number(upperBounds[i]) : "+Inf";
            text.Append(name).Append("_bucket{").Append(labels).Append(",le=\"").Append(le).Append("\"} ")
                .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        PrometheusText.Sample(text, name + "_sum", labels, sum);
        PrometheusText.Sample(text, name + "_count", labels, cumulative);
    }
}
