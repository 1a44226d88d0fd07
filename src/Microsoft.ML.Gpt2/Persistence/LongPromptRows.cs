using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>
/// Prompt rows wider than <see cref="TokenIds4096"/>, for the saved-tokenizer prompt contracts of models whose context is
/// longer (SmolLM2's 8192, Qwen2.5's 32768, Qwen3's 40960, Llama 3.2's 131072): the zip reads as many prompt tokens as
/// the model in memory. The generator graph drops the left padding before decoding, so a wide row costs its copy only.
/// </summary>
internal static class LongPromptRows
{
    /// <summary>The widths there are, smallest first.</summary>
    public static IReadOnlyList<int> Widths { get; } = [TokenIds8192.Width, TokenIds16384.Width, TokenIds32768.Width, TokenIds65536.Width, TokenIds131072.Width];

    /// <summary>The smallest prompt row that holds <paramref name="tokens"/> for a tokenizer the zip carries; throws when none does.</summary>
    public static int WidthFor(int tokens) => tokens <= TokenIds4096.Width
        ? TokenIdsColumns.WidthFor(tokens)
        : Widths.FirstOrDefault(width => width >= tokens) is > 0 and var width ? width
        : throw new NotSupportedException(
            $"A saved generator holds at most {Widths[^1]} prompt tokens per row, but this model's context is {tokens} tokens; keep it in memory.");
}

internal sealed class TokenIds8192 : ITokenIdsRow
{
    public const int Width = 8192;

    static int ITokenIdsRow.Width => Width;

    [ColumnName(TokenIdsColumns.InputIds), VectorType(Width)]
    public long[] InputIds { get; set; } = [];

    [ColumnName(TokenIdsColumns.AttentionMask), VectorType(Width)]
    public long[] AttentionMask { get; set; } = [];
}

internal sealed class TokenIds16384 : ITokenIdsRow
{
    public const int Width = 16384;

    static int ITokenIdsRow.Width => Width;

    [ColumnName(TokenIdsColumns.InputIds), VectorType(Width)]
    public long[] InputIds { get; set; } = [];

    [ColumnName(TokenIdsColumns.AttentionMask), VectorType(Width)]
    public long[] AttentionMask { get; set; } = [];
}

internal sealed class TokenIds32768 : ITokenIdsRow
{
    public const int Width = 32768;

    static int ITokenIdsRow.Width => Width;

    [ColumnName(TokenIdsColumns.InputIds), VectorType(Width)]
    public long[] InputIds { get; set; } = [];

    [ColumnName(TokenIdsColumns.AttentionMask), VectorType(Width)]
    public long[] AttentionMask { get; set; } = [];
}

internal sealed class TokenIds65536 : ITokenIdsRow
{
    public const int Width = 65536;

    static int ITokenIdsRow.Width => Width;

    [ColumnName(TokenIdsColumns.InputIds), VectorType(Width)]
    public long[] InputIds { get; set; } = [];

    [ColumnName(TokenIdsColumns.AttentionMask), VectorType(Width)]
    public long[] AttentionMask { get; set; } = [];
}

internal sealed class TokenIds131072 : ITokenIdsRow
{
    public const int Width = 131072;

    static int ITokenIdsRow.Width => Width;

    [ColumnName(TokenIdsColumns.InputIds), VectorType(Width)]
    public long[] InputIds { get; set; } = [];

    [ColumnName(TokenIdsColumns.AttentionMask), VectorType(Width)]
    public long[] AttentionMask { get; set; } = [];
}
