using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of the <see cref="SavedTokenizerPromptToTokenIdsMapping{TRow}"/> mappings.</summary>
internal sealed class SavedTokenizerPromptInput
{
    /// <summary>The prompt to tokenize.</summary>
    [ColumnName(PromptToTokenIdsInput.PromptColumnName)]
    public string? Prompt { get; set; }

    /// <summary>The packed tokenizer files (<see cref="SavedTokenizer"/>).</summary>
    [ColumnName(SavedTokenizer.ColumnName)]
    public ReadOnlyMemory<char> Tokenizer { get; set; }
}

/// <summary>
/// <see cref="PromptToTokenIdsMapping{TRow}"/> with the tokenizer the zip carries (<see cref="SavedTokenizer"/>): the last
/// <c>TRow.Width</c> tokens, left-padded with the tokenizer's end-of-text token (the generator graph's padding id).
/// </summary>
internal abstract class SavedTokenizerPromptToTokenIdsMapping<TRow> : CustomMappingFactory<SavedTokenizerPromptInput, TRow> where TRow : class, ITokenIdsRow, new()
{
    public override Action<SavedTokenizerPromptInput, TRow> GetMapping()
    {
        var reader = new SavedTokenizer.Reader();
        return (input, output) =>
        {
            var tokenizer = reader.Tokenizer(input.Tokenizer);
            TokenIdsColumns.Set(output, Gpt2TextEncoding.Encode(tokenizer, input.Prompt, PromptToTokenIdsInput.PromptColumnName, TRow.Width, keepLast: true),
                tokenizer.EndOfTextId, leftPadded: true);
        };
    }
}

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.PromptToTokenIds.v1")]
internal sealed class SavedTokenizerPromptToTokenIdsMapping : SavedTokenizerPromptToTokenIdsMapping<TokenIds1024>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.PromptToTokenIds.2048.v1")]
internal sealed class SavedTokenizerPromptToTokenIds2048Mapping : SavedTokenizerPromptToTokenIdsMapping<TokenIds2048>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.PromptToTokenIds.4096.v1")]
internal sealed class SavedTokenizerPromptToTokenIds4096Mapping : SavedTokenizerPromptToTokenIdsMapping<TokenIds4096>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.PromptToTokenIds.8192.v1")]
internal sealed class SavedTokenizerPromptToTokenIds8192Mapping : SavedTokenizerPromptToTokenIdsMapping<TokenIds8192>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.PromptToTokenIds.16384.v1")]
internal sealed class SavedTokenizerPromptToTokenIds16384Mapping : SavedTokenizerPromptToTokenIdsMapping<TokenIds16384>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.PromptToTokenIds.32768.v1")]
internal sealed class SavedTokenizerPromptToTokenIds32768Mapping : SavedTokenizerPromptToTokenIdsMapping<TokenIds32768>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.PromptToTokenIds.65536.v1")]
internal sealed class SavedTokenizerPromptToTokenIds65536Mapping : SavedTokenizerPromptToTokenIdsMapping<TokenIds65536>;

[CustomMappingFactoryAttribute("Gpt2MLNet.SavedTokenizer.PromptToTokenIds.131072.v1")]
internal sealed class SavedTokenizerPromptToTokenIds131072Mapping : SavedTokenizerPromptToTokenIdsMapping<TokenIds131072>;
