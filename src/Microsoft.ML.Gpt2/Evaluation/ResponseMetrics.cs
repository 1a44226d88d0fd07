using System.Text;

namespace Microsoft.ML.Gpt2.Evaluation;

/// <summary>
/// Judge-free scores of a generated response against a reference, as SQuAD computes them: both are lower-cased, stripped
/// of punctuation and articles (a, an, the), and split on white space.
/// </summary>
public static class ResponseMetrics
{
    /// <summary>1 when the normalized response equals the normalized reference, else 0.</summary>
    public static double ExactMatch(string reference, string response) =>
        Normalize(reference).SequenceEqual(Normalize(response)) ? 1 : 0;

    /// <summary>The harmonic mean of the precision and recall of the response's words among the reference's (multiset overlap).</summary>
    public static double TokenF1(string reference, string response)
    {
        string[] expected = Normalize(reference), actual = Normalize(response);
        if (expected.Length == 0 || actual.Length == 0)
            return expected.Length == actual.Length ? 1 : 0;
        var counts = expected.GroupBy(word => word).ToDictionary(group => group.Key, group => group.Count());
        int common = 0;
        foreach (string word in actual)
        {
            if (counts.TryGetValue(word, out int left) && left > 0)
            {
                counts[word] = left - 1;
                common++;
            }
        }
        if (common == 0)
            return 0;
        double precision = common / (double)actual.Length, recall = common / (double)expected.Length;
        return 2 * precision * recall / (precision + recall);
    }

    private static string[] Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var kept = new StringBuilder(text.Length);
        foreach (char c in text.ToLowerInvariant())
            kept.Append(char.IsPunctuation(c) || char.IsSymbol(c) ? ' ' : c);
        return [.. kept.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Where(word => word is not ("a" or "an" or "the"))];
    }
}
