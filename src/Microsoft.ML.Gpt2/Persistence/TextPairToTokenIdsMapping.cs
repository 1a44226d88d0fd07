using Gpt2.Torch.Tokenization;
using System.ComponentModel;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of the <see cref="TextPairToTokenIdsMapping{TRow}"/> mappings.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TextPairToTokenIdsInput
{
    /// <summary>The input column of the second text.</summary>
    public const string Text2ColumnName = "Gpt2.Text2";

    /// <summary>The input column of the maximum length (int).</summary>
    public const string MaxLengthColumnName = "Gpt2.MaxLength";

    /// <summary>The first text of the pair.</summary>
    [ColumnName(TextToTokenIdsInput.TextColumnName)]
    public string? Text { get; set; }

    /// <summary>The second text of the pair.</summary>
    [ColumnName(Text2ColumnName)]
    public string? Text2 { get; set; }

    /// <summary>The most tokens the pair keeps, separator included (the classifier's maximum length).</summary>
    [ColumnName(MaxLengthColumnName)]
    public int MaxLength { get; set; }
}

/// <summary>
/// GPT-2 tokenization of text pairs as a persistable ML.NET <c>CustomMapping</c>, the first step of the saved form of a
/// pair classifier: the first text's tokens, <c>&lt;|endoftext|&gt;</c>, the second text's tokens, the longer text cut
/// first to fit the row's maximum length (a column the saved chain sets to the classifier's, so that the zip cuts pairs
/// exactly as the model in memory did), right-padded.
/// </summary>
/// <typeparam name="TRow">The fixed-width output row.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class TextPairToTokenIdsMapping<TRow> : CustomMappingFactory<TextPairToTokenIdsInput, TRow> where TRow : class, ITokenIdsRow, new()
{
    /// <inheritdoc />
    public override Action<TextPairToTokenIdsInput, TRow> GetMapping() => (input, output) =>
        TokenIdsColumns.Set(output, Gpt2TextEncoding.EncodePair(Gpt2Tokenizer.Default, input.Text, input.Text2, TextToTokenIdsInput.TextColumnName,
            TextPairToTokenIdsInput.Text2ColumnName, Math.Min(input.MaxLength, TRow.Width)));
}

/// <summary>Pair tokenization into 1024 ids: contract <c>Gpt2MLNet.TextPairToTokenIds.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.TextPairToTokenIds.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TextPairToTokenIdsMapping : TextPairToTokenIdsMapping<TokenIds1024>;

/// <summary>Pair tokenization into 2048 ids: contract <c>Gpt2MLNet.TextPairToTokenIds.2048.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.TextPairToTokenIds.2048.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TextPairToTokenIds2048Mapping : TextPairToTokenIdsMapping<TokenIds2048>;

/// <summary>Pair tokenization into 4096 ids: contract <c>Gpt2MLNet.TextPairToTokenIds.4096.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.TextPairToTokenIds.4096.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TextPairToTokenIds4096Mapping : TextPairToTokenIdsMapping<TokenIds4096>;
