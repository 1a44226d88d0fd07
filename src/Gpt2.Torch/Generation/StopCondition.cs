using Gpt2.Torch.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Generation;

/// <summary>Decides whether a sequence's generated tokens end with a stop of <see cref="GenerationOptions"/>.</summary>
internal sealed class StopCondition
{
    private readonly GenerationOptions _options;
    private readonly Tokenizer? _tokenizer;
    private readonly int _textTailTokens;

    public StopCondition(GenerationOptions options, Tokenizer? tokenizer)
    {
        if (options.StopStrings.Count > 0 && tokenizer is null)
            throw new ArgumentException(
                "StopStrings are matched on decoded text, so the generator needs a tokenizer: new Gpt2Generator(model, Gpt2Tokenizer.Default.Tokenizer).",
                nameof(options));
        _options = options;
        _tokenizer = tokenizer;
        // A UTF-16 character is at most 3 UTF-8 bytes and every token holds at least one byte, so a match that the
        // last token completes lies within the last 3 x length tokens (plus slack for a character split across tokens).
        _textTailTokens = options.StopStrings.Count == 0 ? 0 : 3 * options.StopStrings.Max(s => s.Length) + 2;
    }

    /// <summary>Whether <paramref name="tokens"/>, of which those from <paramref name="promptLength"/> on were generated, now end with a stop.</summary>
    public bool IsMet(List<int> tokens, int promptLength)
    {
        int generated = tokens.Count - promptLength;
        if (generated == 0)
            return false;
        if (_options.StopAtEndOfText && tokens[^1] == Gpt2Tokenizer.EndOfTextId)
            return true;
        foreach (IReadOnlyList<int> stop in _options.StopSequences)
        {
            if (stop.Count <= generated && EndsWith(tokens, stop))
                return true;
        }
        if (_textTailTokens == 0)
            return false;
        // Earlier tokens did not complete any stop string, so a match in the tail must be one the last token completed.
        int tail = Math.Min(generated, _textTailTokens);
        string text = _tokenizer!.Decode(tokens.GetRange(tokens.Count - tail, tail));
        return _options.StopStrings.Any(stop => text.Contains(stop, StringComparison.Ordinal));
    }

    private static bool EndsWith(List<int> tokens, IReadOnlyList<int> stop)
    {
        int offset = tokens.Count - stop.Count;
        for (int i = 0; i < stop.Count; i++)
        {
            if (tokens[offset + i] != stop[i])
                return false;
        }
        return true;
    }
}
