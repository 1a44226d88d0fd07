using Gpt2.Torch.Tokenization;

namespace Microsoft.ML.Gpt2;

/// <summary>Turns a text cell into GPT-2 token ids the way every component here does: rejects empty text, keeps the first (or last) tokens.</summary>
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
}
