using System.Text;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Generation;

/// <summary>
/// The one stop checker of a generation row: takes its generated tokens one at a time, says when a stop of
/// <see cref="GenerationOptions"/> is met (the tokenizer's end-of-text or end-of-turn tokens, a token stop sequence, or a stop string in the decoded
/// text), and turns the tokens into text that is safe to hand out. Token results keep every token taken (the stop at
/// the end); text results are <see cref="Text"/>, which ends before the stop.
/// </summary>
/// <remarks>
/// <para>Bytes are gathered until they form whole UTF-8 characters (a byte-level token may hold part of one; a surrogate
/// pair is released whole). Bytes that cannot form UTF-8 become U+FFFD, as <see cref="LanguageModelTokenizer.Decode"/> does.</para>
/// <para>Text that could be the beginning of a stop string, and the text of trailing tokens that could begin a stop
/// sequence, are held back until the next tokens show they are not one, so a streamed piece never holds part of a
/// stop; the pieces concatenate to <see cref="Text"/>.</para>
/// </remarks>
internal sealed class StopChecker
{
    private readonly LanguageModelTokenizer _tokenizer;
    private readonly HashSet<int> _endTokens;
    private readonly IReadOnlyList<string> _stopStrings;
    private readonly IReadOnlyList<IReadOnlyList<int>> _stopSequences;
    private readonly int _longestStop;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly StringBuilder _text = new();
    private readonly List<int> _tokens = [];
    private readonly List<int> _textEnds = [];   // the text's length after each token
    private char[] _chars = new char[16];
    private int _released;

    /// <param name="tokenizer">Turns tokens into bytes.</param>
    /// <param name="options">The stops (validated).</param>
    public StopChecker(LanguageModelTokenizer tokenizer, GenerationOptions options)
    {
        _tokenizer = tokenizer;
        // The family's end of text and its ends of turn (Qwen's <|im_end|>, Llama 3's <|eot_id|>) all end a row.
        _endTokens = options.StopAtEndOfText ? [tokenizer.EndOfTextId, .. tokenizer.EndOfTurnIds] : [];
        _stopStrings = options.StopStrings;
        _stopSequences = options.StopSequences;
        _longestStop = _stopStrings.Count == 0 ? 0 : _stopStrings.Max(stop => stop.Length);
    }

    /// <summary>Why the row ended, or null while it goes on.</summary>
    public TextGenerationFinishReason? FinishReason { get; private set; }

    /// <summary>Tokens taken, including the one that met a stop.</summary>
    public int TokenCount => _tokens.Count;

    /// <summary>All text released so far (the final text once the row has ended).</summary>
    public string Text => _text.ToString(0, _released);

    /// <summary>Takes the next generated token; returns the text it releases (often empty). Call only while <see cref="FinishReason"/> is null.</summary>
    public string Add(int token)
    {
        if (FinishReason is not null)
            throw new InvalidOperationException("The row has already ended; no more tokens can be added.");
        _tokens.Add(token);
        if (_endTokens.Contains(token))
        {
            Flush();
            _textEnds.Add(_text.Length);
            FinishReason ??= TextGenerationFinishReason.EndOfText;
            return Release(_text.Length);
        }
        // Ids past the tokenizer's vocabulary (Qwen's model rows are padded beyond its tokenizer) have no text, as in transformers.
        Append(token < _tokenizer.VocabSize ? _tokenizer.TokenBytes(token) : [], flush: false);
        _textEnds.Add(_text.Length);
        if (FinishReason is null && EndingStopSequence() is int start)
        {
            _text.Length = Math.Max(_released, TextBefore(start));
            FinishReason = TextGenerationFinishReason.StopString;
        }
        if (FinishReason is not null)
            return Release(_text.Length);
        return Release(Math.Min(_text.Length - HeldBackCharacters(), TextBefore(_tokens.Count - HeldBackTokens())));
    }

    /// <summary>Ends the text when generation stopped without a stop (its length limit): releases whatever is left.</summary>
    public string Complete()
    {
        if (FinishReason is not null)
            return "";
        Flush();
        FinishReason = TextGenerationFinishReason.Length;
        return Release(_text.Length);
    }

    private void Flush() => Append([], flush: true);

    // The text's length before token `index`.
    private int TextBefore(int index) => index <= 0 ? 0 : _textEnds[index - 1];

    // Decodes bytes into the text and cuts it at the first stop string the new characters complete.
    private void Append(ReadOnlySpan<byte> bytes, bool flush)
    {
        int count = _utf8.GetCharCount(bytes, flush);   // leaves the decoder's state as it is; GetChars keeps partial characters
        if (_chars.Length < count)
            _chars = new char[Math.Max(count, 2 * _chars.Length)];
        int written = _utf8.GetChars(bytes, _chars, flush);
        int before = _text.Length;
        _text.Append(_chars, 0, written);
        if (_longestStop == 0 || written == 0)
            return;
        // Earlier text held no stop, so a new one ends among the new characters.
        int from = Math.Max(0, before - _longestStop + 1);
        string tail = _text.ToString(from, _text.Length - from);
        int first = -1;
        foreach (string stop in _stopStrings)
        {
            int at = tail.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
                first = at;
        }
        if (first >= 0)
        {
            _text.Length = from + first;
            FinishReason = TextGenerationFinishReason.StopString;
        }
    }

    // The index of the first token of a stop sequence the generated tokens now end with, or null.
    private int? EndingStopSequence()
    {
        foreach (IReadOnlyList<int> stop in _stopSequences)
        {
            if (stop.Count <= _tokens.Count && EndsWith(stop, stop.Count))
                return _tokens.Count - stop.Count;
        }
        return null;
    }

    // How many trailing tokens could begin a stop sequence (its longest proper prefix that the tokens end with).
    private int HeldBackTokens()
    {
        int held = 0;
        foreach (IReadOnlyList<int> stop in _stopSequences)
        {
            for (int length = Math.Min(stop.Count - 1, _tokens.Count); length > held; length--)
            {
                if (EndsWith(stop, length))
                {
                    held = length;
                    break;
                }
            }
        }
        return held;
    }

    private bool EndsWith(IReadOnlyList<int> stop, int length)
    {
        int offset = _tokens.Count - length;
        for (int i = 0; i < length; i++)
        {
            if (_tokens[offset + i] != stop[i])
                return false;
        }
        return true;
    }

    // How many trailing characters could begin a stop string (its longest proper prefix that the text ends with).
    private int HeldBackCharacters()
    {
        int held = 0;
        foreach (string stop in _stopStrings)
        {
            for (int length = Math.Min(stop.Length - 1, _text.Length - _released); length > held; length--)
            {
                if (EndsWith(stop.AsSpan(0, length)))
                {
                    held = length;
                    break;
                }
            }
        }
        return held;
    }

    private bool EndsWith(ReadOnlySpan<char> prefix)
    {
        int offset = _text.Length - prefix.Length;
        for (int i = 0; i < prefix.Length; i++)
        {
            if (_text[offset + i] != prefix[i])
                return false;
        }
        return true;
    }

    private string Release(int upTo)
    {
        if (upTo <= _released)
            return "";
        string piece = _text.ToString(_released, upTo - _released);
        _released = upTo;
        return piece;
    }
}
