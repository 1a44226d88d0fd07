using System.Text.RegularExpressions;

namespace Gpt2.Torch.Tokenization;

/// <summary>
/// Cuts text at the added tokens it holds, as Hugging Face tokenizers does before normalization and pre-tokenization:
/// the leftmost occurrence first, the longest token where several start there.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Regex? _pattern;
    private readonly Dictionary<string, int> _ids;

    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        _ids = tokens.ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
        // Longest first: .NET's alternation takes the first alternative that matches at the leftmost position.
        _pattern = _ids.Count == 0 ? null : new Regex(
            string.Join('|', _ids.Keys.OrderByDescending(content => content.Length).ThenBy(content => content, StringComparer.Ordinal).Select(Regex.Escape)),
            RegexOptions.CultureInvariant);
    }

    /// <summary>The tokens matched, by text.</summary>
    public IReadOnlyDictionary<string, int> Ids => _ids;

    /// <summary>
    /// The stretches of <paramref name="text"/>: each is either an added token (<c>Id</c> set) or the text between two
    /// of them (<c>Id</c> null, never empty).
    /// </summary>
    public List<(int Start, int Length, int? Id)> Split(string text)
    {
        var stretches = new List<(int Start, int Length, int? Id)>();
        int start = 0;
        if (_pattern is not null)
        {
            foreach (ValueMatch match in _pattern.EnumerateMatches(text))
            {
                if (match.Index > start)
                    stretches.Add((start, match.Index - start, null));
                stretches.Add((match.Index, match.Length, _ids[text.Substring(match.Index, match.Length)]));
                start = match.Index + match.Length;
            }
        }
        if (start < text.Length)
            stretches.Add((start, text.Length - start, null));
        return stretches;
    }
}
