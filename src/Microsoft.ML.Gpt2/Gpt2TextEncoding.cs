using Gpt2.Torch.Tokenization;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// Turns a text cell (or a pair) into token ids the way every component here does: rejects empty text, puts the
/// tokenizer's beginning-of-text token first where its family has one (Llama 3's, as Hugging Face's tokenizers do),
/// keeps the first (or last) tokens.
/// </summary>
internal static class Gpt2TextEncoding
{
    public static int[] Encode(LanguageModelTokenizer tokenizer, string? text, string columnName, int maxTokens, bool keepLast = false)
    {
        int[] ids = Tokens(tokenizer, text, columnName);
        int? begin = tokenizer.BeginningOfTextId;
        int room = begin is null ? maxTokens : maxTokens - 1;
        if (ids.Length > room)
            ids = keepLast ? ids[^room..] : ids[..room];
        return begin is int bos ? [bos, .. ids] : ids;
    }

    /// <summary>
    /// The ids of a text pair, <paramref name="first"/> then the tokenizer's end-of-text token then <paramref name="second"/>,
    /// at most <paramref name="maxTokens"/> in all (the beginning-of-text token included): the longer text loses its last
    /// tokens first, as Hugging Face's <c>longest_first</c> truncation does, so that both texts keep as much as they can.
    /// The end-of-text token separates them because these families have no separator token and it never occurs inside a
    /// text, so fine-tuning can learn it as the boundary.
    /// </summary>
    public static int[] EncodePair(LanguageModelTokenizer tokenizer, string? first, string? second, string firstColumnName, string secondColumnName, int maxTokens)
    {
        int? begin = tokenizer.BeginningOfTextId;
        int room = begin is null ? maxTokens : maxTokens - 1;
        if (room < 3)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "A text pair needs room for at least three tokens.");
        int[] a = Tokens(tokenizer, first, firstColumnName), b = Tokens(tokenizer, second, secondColumnName);
        int lengthA = a.Length, lengthB = b.Length;
        while (lengthA + 1 + lengthB > room)
        {
            if (lengthA >= lengthB)
                lengthA--;
            else
                lengthB--;
        }
        int[] pair = [.. a.AsSpan(0, lengthA), tokenizer.EndOfTextId, .. b.AsSpan(0, lengthB)];
        return begin is int bos ? [bos, .. pair] : pair;
    }

    private static int[] Tokens(LanguageModelTokenizer tokenizer, string? text, string columnName) => string.IsNullOrEmpty(text)
        ? throw new InvalidOperationException(
            $"Column '{columnName}' holds an empty or missing text; the model needs at least one token. Filter out empty rows first " +
            "(for example with mlContext.Data.FilterByCustomPredicate).")
        : tokenizer.Encode(text);
}
