using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Gpt2Server.Tests;

/// <summary>
/// A parser of Prometheus' text exposition format (version 0.0.4), written from the format's description, so that the
/// tests read /metrics as a scraper does: it fails on a line a scraper would refuse (a bad name, a bad label, a bad
/// number, a sample of a family without a <c># TYPE</c>).
/// </summary>
internal sealed partial class PrometheusScrape
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public Dictionary<string, string> Types { get; } = [];

    public List<Sample> Samples { get; } = [];

    public static async Task<PrometheusScrape> ReadAsync(HttpClient http)
    {
        using HttpResponseMessage response = await http.GetAsync("metrics");
        Assert.AreEqual(200, (int)response.StatusCode);
        Assert.AreEqual("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.AreEqual("0.0.4", response.Content.Headers.ContentType?.Parameters.Single(p => p.Name == "version").Value);
        return Parse(await response.Content.ReadAsStringAsync());
    }

    public static PrometheusScrape Parse(string text)
    {
        var scrape = new PrometheusScrape();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0)
                continue;
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                string[] parts = line["# TYPE ".Length..].Split(' ');
                Assert.AreEqual(2, parts.Length, line);
                Assert.AreEqual(parts[0], NameRegex().Match(parts[0]).Value, line);
                CollectionAssert.Contains(new[] { "counter", "gauge", "histogram", "summary", "untyped" }, parts[1], line);
                Assert.IsTrue(scrape.Types.TryAdd(parts[0], parts[1]), $"a second TYPE for {parts[0]}");
                continue;
            }
            if (line.StartsWith('#'))
                continue;
            scrape.Samples.Add(ParseSample(line));
        }
        foreach (Sample sample in scrape.Samples)
            Assert.IsTrue(scrape.Types.ContainsKey(sample.Name) || scrape.Types.ContainsKey(Family(sample.Name)), $"no TYPE for {sample.Name}");
        return scrape;
    }

    /// <summary>The one sample of <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    public double Value(string name, params (string Name, string Value)[] labels) =>
        Samples.Single(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out string? v) && v == l.Value)).Value;

    /// <summary>A histogram's buckets (upper bound, cumulative count), its sum and count; checks that the buckets are cumulative and end at +Inf with the count.</summary>
    public (List<(double UpperBound, double Count)> Buckets, double Sum, double Count) Histogram(string name)
    {
        Assert.AreEqual("histogram", Types[name]);
        List<(double, double)> buckets = [.. Samples.Where(s => s.Name == name + "_bucket").Select(s => (ParseNumber(s.Labels["le"]), s.Value))];
        double count = Value(name + "_count");
        for (int i = 1; i < buckets.Count; i++)
        {
            Assert.IsTrue(buckets[i].Item1 > buckets[i - 1].Item1, $"{name}: bounds ascend");
            Assert.IsTrue(buckets[i].Item2 >= buckets[i - 1].Item2, $"{name}: counts are cumulative");
        }
        Assert.IsTrue(double.IsPositiveInfinity(buckets[^1].Item1), $"{name}: the last bucket is +Inf");
        Assert.AreEqual(count, buckets[^1].Item2, $"{name}: the +Inf bucket holds every observation");
        return (buckets, Value(name + "_sum"), count);
    }

    private static string Family(string name)
    {
        foreach (string suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
                return name[..^suffix.Length];
        }
        return name;
    }

    private static Sample ParseSample(string line)
    {
        Match name = NameRegex().Match(line);
        Assert.IsTrue(name.Success && name.Index == 0, line);
        int at = name.Length;
        var labels = new Dictionary<string, string>();
        if (at < line.Length && line[at] == '{')
        {
            at++;
            while (line[at] != '}')
            {
                Match label = LabelNameRegex().Match(line, at);
                Assert.IsTrue(label.Success && label.Index == at, line);
                at += label.Length;
                Assert.AreEqual("=\"", line.Substring(at, 2), line);
                at += 2;
                var value = new StringBuilder();
                while (line[at] != '"')
                {
                    if (line[at] == '\\')
                    {
                        at++;
                        value.Append(line[at] switch { 'n' => '\n', '\\' => '\\', '"' => '"', char other => throw new AssertFailedException($"bad escape \\{other}: {line}") });
                    }
                    else
                    {
                        value.Append(line[at]);
                    }
                    at++;
                }
                at++;
                Assert.IsTrue(labels.TryAdd(label.Value, value.ToString()), $"label {label.Value} twice: {line}");
                if (line[at] == ',')
                    at++;
            }
            at++;
        }
        Assert.AreEqual(' ', line[at], line);
        return new Sample(name.Value, labels, ParseNumber(line[(at + 1)..]));
    }

    private static double ParseNumber(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    [GeneratedRegex("[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex NameRegex();

    [GeneratedRegex("[a-zA-Z_][a-zA-Z0-9_]*")]
    private static partial Regex LabelNameRegex();
}
