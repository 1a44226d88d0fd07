namespace Gpt2.Torch.Tokenization;

/// <summary>
/// GPT-2's reversible mapping between the 256 byte values and printable Unicode characters
/// (<c>bytes_to_unicode</c> in OpenAI's encoder.py), in which encoder.json and vocab.bpe are written.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>The character that stands for each byte value.</summary>
    public static char[] ByteToUnicode { get; } = BuildByteToUnicode();

    /// <summary>The byte each character stands for, or -1 for characters outside the alphabet.</summary>
    public static int[] UnicodeToByte { get; } = BuildUnicodeToByte();

    /// <summary>
    /// The 256 one-byte tokens in GPT-2's id order (the printable bytes, then the others): the first 256 entries of
    /// encoder.json, and of every vocabulary <see cref="BpeTrainer"/> learns.
    /// </summary>
    public static string[] ByteTokens { get; } = [.. ByteToUnicode.Order().Select(c => c.ToString())];

    /// <summary>The id of each byte value's token in <see cref="ByteTokens"/>.</summary>
    public static int[] ByteTokenIds { get; } = [.. Enumerable.Range(0, 256).Select(b => Array.IndexOf(ByteTokens, ByteToUnicode[b].ToString()))];

    private static char[] BuildByteToUnicode()
    {
        static bool Printable(int b) => b is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ';
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            map[b] = Printable(b) ? (char)b : (char)next++;
        return map;
    }

    private static int[] BuildUnicodeToByte()
    {
        var map = new int[ByteToUnicode.Max() + 1];
        Array.Fill(map, -1);
        for (int b = 0; b < 256; b++)
            map[ByteToUnicode[b]] = b;
        return map;
    }
}
