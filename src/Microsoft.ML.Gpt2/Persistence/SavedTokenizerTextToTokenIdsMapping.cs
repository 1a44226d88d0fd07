using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of the <see cref="SavedTokenizerTextToTokenIdsMapping{TRow}"/> mappings.</summary>
internal sealed class SavedTokenizerTextInput
{
    /// <summary>The text to tokenize.</summary>
    [ColumnName(TextToTokenIdsInput.TextColumnName)]
    public string? Text { get; set; }

    /// <summary>The packed tokenizer files (<see cref="SavedTokenizer"/>).</summary>
    [ColumnName(SavedTokenizer.ColumnName)]
    public ReadOnlyMemory<char> Tokenizer { get; set; }
}

/// <summary>
/// <see cref="TextToTokenIdsMapping{TRow}"/> with the tokenizer the zip carries (<see cref="SavedTokenizer"/>) instead of
/// GPT-2's built-in one: the text's first <c>TRow.Width</c> tokens, right-padded with the tokenizer's end-of-text token.
/// </summary>
internal abstract class SavedTokenizerTextToTokenIdsMapping<TRow> : CustomMappingFactory<SavedTokenizerTextInput, TRow> where TRow : class, ITokenIdsRow, new()
{
    public override Action<SavedTokenizerTextInput, TRow> GetMapping()
    {
        var reader = new SavedTokenizer.Reader();
        return (input, output) =>
        {
            var tokenizer = reader.Tokenizer(input.Tokenizer);
            TokenIdsColumns.Set(output, Gpt2TextEncoding.Encode(tokenizer, input.Text, TextToTokenIdsInput.TextColumnName, TRow.Width), tokenizer.EndOfTextId);
        };
    }
}

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.TextToTokenIds.v1")]
internal sealed class SavedTokenizerTextToTokenIdsMapping : SavedTokenizerTextToTokenIdsMapping<TokenIds1024>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.TextToTokenIds.2048.v1")]
internal sealed class SavedTokenizerTextToTokenIds2048Mapping : SavedTokenizerTextToTokenIdsMapping<TokenIds2048>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.TextToTokenIds.4096.v1")]
internal sealed class SavedTokenizerTextToTokenIds4096Mapping : SavedTokenizerTextToTokenIdsMapping<TokenIds4096>;
