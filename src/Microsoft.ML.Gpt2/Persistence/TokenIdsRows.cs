using System.ComponentModel;
using Gpt2.Torch.Tokenization;
using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>
/// GPT-2 token ids and their mask padded to a fixed width, the output of the tokenizing mappings. ONNX Runtime's ML.NET
/// bridge takes fixed-size vectors only, so each width a model may need is a row type of its own: the smallest that holds
/// the model's context (or a classifier's maximum length) is used, and the exported graph drops the padding.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface ITokenIdsRow
{
    /// <summary>The number of ids (and mask values) in a row.</summary>
    static abstract int Width { get; }

    /// <summary>Token ids, padded with <c>&lt;|endoftext|&gt;</c>.</summary>
    long[] InputIds { get; set; }

    /// <summary>1 for a real token, 0 for padding.</summary>
    long[] AttentionMask { get; set; }
}

/// <summary>The columns every <see cref="ITokenIdsRow"/> fills, named after the exported ONNX graphs' inputs.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class TokenIdsColumns
{
    /// <summary>The token-id column.</summary>
    public const string InputIds = "input_ids";

    /// <summary>The mask column.</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>The row widths there are, smallest first.</summary>
    public static IReadOnlyList<int> Widths { get; } = [TokenIds1024.Width, TokenIds2048.Width, TokenIds4096.Width];

    /// <summary>The smallest width that holds <paramref name="tokens"/>; throws when none does.</summary>
    public static int WidthFor(int tokens) => Widths.FirstOrDefault(width => width >= tokens) is > 0 and var width ? width
        : throw new NotSupportedException(
            $"A saved GPT-2 model holds at most {Widths[^1]} tokens per row, but this one needs {tokens} (its context length or maximum length); " +
            "keep it in memory, or train it with a smaller MaxLength to save it.");

    /// <summary>Sets <paramref name="row"/> to <paramref name="ids"/>, padded with <paramref name="padId"/> on the right, or on the left when <paramref name="leftPadded"/>.</summary>
    internal static void Set<TRow>(TRow row, int[] ids, int padId = Gpt2Tokenizer.EndOfTextTokenId, bool leftPadded = false) where TRow : ITokenIdsRow
    {
        int width = TRow.Width;
        row.InputIds = new long[width];
        row.AttentionMask = new long[width];
        Array.Fill(row.InputIds, padId);
        for (int i = 0, column = leftPadded ? width - ids.Length : 0; i < ids.Length; i++, column++)
        {
            row.InputIds[column] = ids[i];
            row.AttentionMask[column] = 1;
        }
    }
}

/// <summary>1024 token ids (GPT-2's own context), the width of every <c>.v1</c> contract.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TokenIds1024 : ITokenIdsRow
{
    /// <summary>The row width.</summary>
    public const int Width = 1024;

    static int ITokenIdsRow.Width => Width;

    /// <inheritdoc />
    [ColumnName(TokenIdsColumns.InputIds), VectorType(Width)]
    public long[] InputIds { get; set; } = [];

    /// <inheritdoc />
    [ColumnName(TokenIdsColumns.AttentionMask), VectorType(Width)]
    public long[] AttentionMask { get; set; } = [];
}

/// <summary>2048 token ids.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TokenIds2048 : ITokenIdsRow
{
    /// <summary>The row width.</summary>
    public const int Width = 2048;

    static int ITokenIdsRow.Width => Width;

    /// <inheritdoc />
    [ColumnName(TokenIdsColumns.InputIds), VectorType(Width)]
    public long[] InputIds { get; set; } = [];

    /// <inheritdoc />
    [ColumnName(TokenIdsColumns.AttentionMask), VectorType(Width)]
    public long[] AttentionMask { get; set; } = [];
}

/// <summary>4096 token ids.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TokenIds4096 : ITokenIdsRow
{
    /// <summary>The row width.</summary>
    public const int Width = 4096;

    static int ITokenIdsRow.Width => Width;

    /// <inheritdoc />
    [ColumnName(TokenIdsColumns.InputIds), VectorType(Width)]
    public long[] InputIds { get; set; } = [];

    /// <inheritdoc />
    [ColumnName(TokenIdsColumns.AttentionMask), VectorType(Width)]
    public long[] AttentionMask { get; set; } = [];
}
