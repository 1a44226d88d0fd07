using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of <see cref="SavedTokenizerTokenIdsToTextMapping"/>.</summary>
internal sealed class SavedTokenizerTokenIdsInput
{
    /// <summary>Generated token ids, ending at the first end-of-text token.</summary>
    [ColumnName(TokenIdsToTextMapping.GeneratedIdsColumnName)]
    public int[] GeneratedIds { get; set; } = [];

    /// <summary>The packed tokenizer files (<see cref="SavedTokenizer"/>).</summary>
    [ColumnName(SavedTokenizer.ColumnName)]
    public ReadOnlyMemory<char> Tokenizer { get; set; }
}

/// <summary>
/// <see cref="TokenIdsToTextMapping"/> with the tokenizer the zip carries (<see cref="SavedTokenizer"/>): the tokens before
/// the first end-of-text token as text, as is and trimmed.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class SavedTokenizerTokenIdsToTextMapping : CustomMappingFactory<SavedTokenizerTokenIdsInput, TokenIdsToTextOutput>
{
    public const string ContractName = "Gpt2MLNet.SavedTokenizer.TokenIdsToText.v1";

    public override Action<SavedTokenizerTokenIdsInput, TokenIdsToTextOutput> GetMapping()
    {
        var reader = new SavedTokenizer.Reader();
        return (input, output) =>
        {
            var tokenizer = reader.Tokenizer(input.Tokenizer);
            int end = Array.IndexOf(input.GeneratedIds, tokenizer.EndOfTextId);
            output.GeneratedText = tokenizer.Decode(end < 0 ? input.GeneratedIds : input.GeneratedIds[..end]);
            output.TrimmedText = output.GeneratedText.Trim();
        };
    }
}
