using System.ComponentModel;
using Gpt2.Torch.Onnx;
using Gpt2.Torch.Tokenization;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of <see cref="TokenIdsToTextMapping"/>.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TokenIdsToTextInput
{
    /// <summary>Generated token ids, ending at the first <c>&lt;|endoftext|&gt;</c>.</summary>
    [ColumnName(TokenIdsToTextMapping.GeneratedIdsColumnName)]
    public int[] GeneratedIds { get; set; } = [];
}

/// <summary>The output row of <see cref="TokenIdsToTextMapping"/>.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TokenIdsToTextOutput
{
    /// <summary>The decoded text.</summary>
    [ColumnName(TokenIdsToTextMapping.GeneratedTextColumnName)]
    public string GeneratedText { get; set; } = "";

    /// <summary>The decoded text without leading and trailing white space.</summary>
    [ColumnName(TokenIdsToTextMapping.TrimmedTextColumnName)]
    public string TrimmedText { get; set; } = "";
}

/// <summary>
/// GPT-2 detokenization as a persistable ML.NET <c>CustomMapping</c>, the last step of the saved form of the generating
/// components: the tokens before the first <c>&lt;|endoftext|&gt;</c> as text, as is and trimmed.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TokenIdsToTextMapping : CustomMappingFactory<TokenIdsToTextInput, TokenIdsToTextOutput>
{
    /// <summary>The contract name saved in model zips.</summary>
    public const string ContractName = "Gpt2MLNet.TokenIdsToText.v1";

    /// <summary>The input column, named after the ONNX generator graph's output.</summary>
    public const string GeneratedIdsColumnName = Gpt2OnnxNames.GeneratedIds;

    /// <summary>The decoded continuation.</summary>
    public const string GeneratedTextColumnName = "Gpt2.GeneratedText";

    /// <summary>The decoded continuation, trimmed.</summary>
    public const string TrimmedTextColumnName = "Gpt2.TrimmedText";

    /// <inheritdoc />
    public override Action<TokenIdsToTextInput, TokenIdsToTextOutput> GetMapping() => Map;

    private static void Map(TokenIdsToTextInput input, TokenIdsToTextOutput output)
    {
        int end = Array.IndexOf(input.GeneratedIds, Gpt2Tokenizer.EndOfTextTokenId);
        output.GeneratedText = Gpt2Tokenizer.Default.Decode(end < 0 ? input.GeneratedIds : input.GeneratedIds[..end]);
        output.TrimmedText = output.GeneratedText.Trim();
    }
}
