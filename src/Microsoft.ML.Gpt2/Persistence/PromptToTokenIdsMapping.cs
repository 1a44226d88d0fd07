using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of <see cref="PromptToTokenIdsMapping"/>.</summary>
public sealed class PromptToTokenIdsInput
{
    /// <summary>The prompt to tokenize.</summary>
    [ColumnName(PromptToTokenIdsMapping.PromptColumnName)]
    public string? Prompt { get; set; }
}

/// <summary>
/// GPT-2 tokenization of prompts as a persistable ML.NET <c>CustomMapping</c>, the first step of the saved form of the
/// generating components: the last <see cref="TextToTokenIdsMapping.MaxTokens"/> tokens, left-padded with
/// <c>&lt;|endoftext|&gt;</c> (generation continues from the end of the row), into the columns of
/// <see cref="TextToTokenIdsOutput"/>. The ONNX model then keeps the tokens that fit its context with the new ones.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class PromptToTokenIdsMapping : CustomMappingFactory<PromptToTokenIdsInput, TextToTokenIdsOutput>
{
    /// <summary>The contract name saved in model zips.</summary>
    public const string ContractName = "Gpt2MLNet.PromptToTokenIds.v1";

    /// <summary>The input column: the prompt, built from the source columns by the steps before this one.</summary>
    public const string PromptColumnName = "Gpt2.Prompt";

    /// <inheritdoc />
    public override Action<PromptToTokenIdsInput, TextToTokenIdsOutput> GetMapping() => Map;

    private static void Map(PromptToTokenIdsInput input, TextToTokenIdsOutput output) =>
        output.Set(Gpt2TextEncoding.Encode(input.Prompt, PromptColumnName, TextToTokenIdsMapping.MaxTokens, keepLast: true), leftPadded: true);
}
