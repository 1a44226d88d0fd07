using System.Text;
using Gpt2.Torch.Tokenization;

namespace Gpt2Server;

/// <summary>
/// The text and bytes of generated tokens for OpenAI's log-probability shapes, and where each token's text starts in
/// the completion: GPT-2's tokens are bytes, and one may hold part of a UTF-8 character, so offsets count the
/// characters the bytes before it complete. One instance per response.
/// </summary>
internal sealed class TokenTexts(LanguageModelTokenizer tokenizer)
{
    // OpenAI's floor for a log-probability of a token that cannot be drawn (JSON has no minus infinity).
    private const double LeastLogprob = -9999.0;

    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private int _characters;

    /// <summary>The token's text; bytes that are not whole UTF-8 characters show U+FFFD.</summary>
    public string Text(int token) => Encoding.UTF8.GetString(tokenizer.TokenBytes(token));

    /// <summary>The token's bytes, as the numbers OpenAI's <c>bytes</c> lists.</summary>
    public int[] Bytes(int token)
    {
        ReadOnlySpan<byte> bytes = tokenizer.TokenBytes(token);
        int[] values = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            values[i] = bytes[i];
        return values;
    }

    /// <summary>Where the token's text starts in the completion, in characters; call once per generated token, in order.</summary>
    public int NextOffset(int token)
    {
        int offset = _characters;
        ReadOnlySpan<byte> bytes = tokenizer.TokenBytes(token);
        Span<char> characters = stackalloc char[bytes.Length + 2];
        _characters += _utf8.GetChars(bytes, characters, flush: false);
        return offset;
    }

    /// <summary>A log-probability JSON can carry: minus infinity (a token the processors ruled out) becomes OpenAI's -9999.</summary>
    public static double Logprob(double value) => double.IsFinite(value) ? value : LeastLogprob;
}
