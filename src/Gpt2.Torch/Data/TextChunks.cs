namespace Gpt2.Torch.Data;

/// <summary>
/// Cuts a long text into pieces that tokenize, one by one, into exactly the tokens of the whole text.
/// </summary>
/// <remarks>
/// A piece ends just before the last whitespace character that precedes a letter or digit. GPT-2's pre-tokenization
/// regex has no look-behind and never lets a piece end inside such a spot other than there: the whitespace run before
/// the cut (if any) is a piece of its own either way, and the last whitespace character starts the next piece (alone
/// or as the leading space of a word) either way. A letter or digit after the cut also keeps special tokens such as
/// <c>&lt;|endoftext|&gt;</c>, which start with a symbol, whole and after the cut, where they end any whitespace run.
/// </remarks>
internal static class TextChunks
{
    /// <summary>The pieces of <paramref name="reader"/>'s text, each of about <paramref name="chunkCharacters"/> to twice that, or longer where no cut is possible.</summary>
    public static IEnumerable<string> Split(TextReader reader, int chunkCharacters)
    {
        OptionChecks.AtLeast(chunkCharacters, 1, nameof(chunkCharacters), "1000000");
        var buffer = new char[2 * chunkCharacters];
        int length = 0;
        while (true)
        {
            if (length == buffer.Length)
                Array.Resize(ref buffer, 2 * buffer.Length);
            int read = reader.ReadBlock(buffer, length, buffer.Length - length);
            length += read;
            if (read == 0)
            {
                if (length > 0)
                    yield return new string(buffer, 0, length);
                yield break;
            }
            int cut = length < chunkCharacters ? -1 : LastCut(buffer, length);
            if (cut <= 0)
                continue;
            yield return new string(buffer, 0, cut);
            Array.Copy(buffer, cut, buffer, 0, length - cut);
            length -= cut;
        }
    }

    private static int LastCut(char[] text, int length)
    {
        for (int i = length - 2; i > 0; i--)
        {
            if (char.IsWhiteSpace(text[i]) && char.IsLetterOrDigit(text[i + 1]))
                return i;
        }
        return -1;
    }
}
