using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of the <see cref="SavedTokenizerTextPairToTokenIdsMapping{TRow}"/> mappings.</summary>
internal sealed class SavedTokenizerTextPairInput
{
    /// <summary>The first text of the pair.</summary>
    [ColumnName(TextToTokenIdsInput.TextColumnName)]
    public string? Text { get; set; }

    /// <summary>The second text of the pair.</summary>
    [ColumnName(TextPairToTokenIdsInput.Text2ColumnName)]
    public string? Text2 { get; set; }

    /// <summary>The most tokens the pair keeps (the classifier's maximum length).</summary>
    [ColumnName(TextPairToTokenIdsInput.MaxLengthColumnName)]
    public int MaxLength { get; set; }

    /// <summary>The packed tokenizer files (<see cref="SavedTokenizer"/>).</summary>
    [ColumnName(SavedTokenizer.ColumnName)]
    public ReadOnlyMemory<char> Tokenizer { get; set; }
}

/// <summary>
/// <see cref="TextPairToTokenIdsMapping{TRow}"/> with the tokenizer the zip carries (<see cref="SavedTokenizer"/>): the
/// first text, the tokenizer's end-of-text token, the second text, cut to the maximum length as in memory, right-padded.
/// </summary>
internal abstract class SavedTokenizerTextPairToTokenIdsMapping<TRow> : CustomMappingFactory<SavedTokenizerTextPairInput, TRow> where TRow : class, ITokenIdsRow, new()
{
    public override Action<SavedTokenizerTextPairInput, TRow> GetMapping()
    {
        var reader = new SavedTokenizer.Reader();
        return (input, output) =>
        {
            var tokenizer = reader.Tokenizer(input.Tokenizer);
            TokenIdsColumns.Set(output, Gpt2TextEncoding.EncodePair(tokenizer, input.Text, input.Text2, TextToTokenIdsInput.TextColumnName,
                TextPairToTokenIdsInput.Text2ColumnName, Math.Min(input.MaxLength, TRow.Width)), tokenizer.EndOfTextId);
        };
    }
}

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.TextPairToTokenIds.v1")]
internal sealed class SavedTokenizerTextPairToTokenIdsMapping : SavedTokenizerTextPairToTokenIdsMapping<TokenIds1024>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.TextPairToTokenIds.2048.v1")]
internal sealed class SavedTokenizerTextPairToTokenIds2048Mapping : SavedTokenizerTextPairToTokenIdsMapping<TokenIds2048>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.TextPairToTokenIds.4096.v1")]
internal sealed class SavedTokenizerTextPairToTokenIds4096Mapping : SavedTokenizerTextPairToTokenIdsMapping<TokenIds4096>;
