using System.Text;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Turns generated tokens, one at a time, into text that is safe to hand out: the one place where
/// <see cref="Gpt2TextGenerationService"/> detokenizes, for its streaming and its non-streaming results alike, so the
/// two agree by construction.
/// </summary>
/// <remarks>
/// <para>Bytes are gathered until they form whole UTF-8 characters (a byte-level token may hold part of one; a surrogate
/// pair is released whole). Bytes that cannot form UTF-8 become U+FFFD, as <see cref="Gpt2Tokenizer.Decode"/> does.</para>
/// <para>Text that could be the beginning of a stop string is held back until the next tokens show it is not one, so a
/// stop string that spans token boundaries is never partly released. Text ends before the first stop string and before
/// <c>&lt;|endoftext|&gt;</c>.</para>
/// </remarks>
internal sealed class TextStreamDecoder
{
    private readonly Gpt2Tokenizer _tokenizer;
    private readonly int? _endOfTextId;
    private readonly IReadOnlyList<string> _stopStrings;
    private readonly int _longestStop;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly StringBuilder _text = new();
    private char[] _chars = new char[16];
    private int _released;

    public TextStreamDecoder(Gpt2Tokenizer tokenizer, GenerationOptions options)
    {
        _tokenizer = tokenizer;
        _endOfTextId = options.StopAtEndOfText ? Gpt2Tokenizer.EndOfTextId : null;
        _stopStrings = options.StopStrings;
        _longestStop = _stopStrings.Count == 0 ? 0 : _stopStrings.Max(stop => stop.Length);
    }

    /// <summary>Why the text ended, or null while it goes on.</summary>
    public TextGenerationFinishReason? FinishReason { get; private set; }

    /// <summary>Tokens taken, including the one that ended the text.</summary>
    public int TokenCount { get; private set; }

    /// <summary>All text released so far (the final text once <see cref="Complete"/> has been called).</summary>
    public string Text => _text.ToString(0, _released);

    /// <summary>Takes the next generated token; returns the text it releases (often empty). Call only while <see cref="FinishReason"/> is null.</summary>
    public string Add(int token)
    {
        if (FinishReason is not null)
            throw new InvalidOperationException("The text has already ended; no more tokens can be added.");
        TokenCount++;
        if (token == _endOfTextId)
        {
            Flush();
            FinishReason ??= TextGenerationFinishReason.EndOfText;
            return Release(_text.Length);
        }
        Append(_tokenizer.TokenBytes(token), flush: false);
        return FinishReason is null ? Release(_text.Length - HeldBack()) : Release(_text.Length);
    }

    /// <summary>Ends the text when generation stopped without a stop (its length limit): releases whatever is left.</summary>
    public string Complete()
    {
        if (FinishReason is not null)
            return "";
        Flush();
        FinishReason ??= TextGenerationFinishReason.Length;
        return Release(_text.Length);
    }

    private void Flush() => Append([], flush: true);

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

    // How many trailing characters could begin a stop string (its longest proper prefix that the text ends with).
    private int HeldBack()
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
