using Gpt2.Torch.Tokenization;

namespace Microsoft.ML.Gpt2;

/// <summary>Turns a text cell (or a pair) into GPT-2 token ids the way every component here does: rejects empty text, keeps the first (or last) tokens.</summary>
internal static class Gpt2TextEncoding
{
    public static int[] Encode(string? text, string columnName, int maxTokens, bool keepLast = false)
    {
        if (string.IsNullOrEmpty(text))
            throw new InvalidOperationException(
                $"Column '{columnName}' holds an empty or missing text; GPT-2 needs at least one token. Filter out empty rows first " +
                "(for example with mlContext.Data.FilterByCustomPredicate).");
        int[] ids = Gpt2Tokenizer.Default.Encode(text);
        if (ids.Length <= maxTokens)
            return ids;
        return keepLast ? ids[^maxTokens..] : ids[..maxTokens];
    }

    /// <summary>
    /// The ids of a text pair, <paramref name="first"/> then <see cref="PairSeparatorId"/> then <paramref name="second"/>, at
    /// most <paramref name="maxTokens"/> in all: the longer text loses its last tokens first, as Hugging Face's
    /// <c>longest_first</c> truncation does, so that both texts keep as much as they can.
    /// </summary>
    public static int[] EncodePair(string? first, string? second, string firstColumnName, string secondColumnName, int maxTokens)
    {
        if (maxTokens < 3)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "A text pair needs room for at least three tokens.");
        int[] a = Encode(first, firstColumnName, int.MaxValue), b = Encode(second, secondColumnName, int.MaxValue);
        int lengthA = a.Length, lengthB = b.Length;
        while (lengthA + 1 + lengthB > maxTokens)
        {
            if (lengthA >= lengthB)
                lengthA--;
            else
                lengthB--;
        }
        return [.. a.AsSpan(0, lengthA), PairSeparatorId, .. b.AsSpan(0, lengthB)];
    }

    /// <summary>
    /// What stands between the two texts of a pair: GPT-2 has no separator token, and <c>&lt;|endoftext|&gt;</c> is the one
    /// token that never occurs inside a text, so fine-tuning can learn it as the boundary.
    /// </summary>
    public const int PairSeparatorId = Gpt2Tokenizer.EndOfTextTokenId;
}
