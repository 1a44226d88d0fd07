using Gpt2.Torch.Tokenization;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of <see cref="PromptToTokenIdsMapping"/>.</summary>
public sealed class PromptToTokenIdsInput
{
    /// <summary>The prompt to tokenize.</summary>
    [ColumnName(SavedGeneratorChain.PromptColumnName)]
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

    /// <inheritdoc />
    public override Action<PromptToTokenIdsInput, TextToTokenIdsOutput> GetMapping() => Map;

    private static void Map(PromptToTokenIdsInput input, TextToTokenIdsOutput output)
    {
        const int width = TextToTokenIdsMapping.MaxTokens;
        int[] ids = Gpt2TextEncoding.Encode(input.Prompt, SavedGeneratorChain.PromptColumnName, width, keepLast: true);
        output.InputIds = new long[width];
        output.AttentionMask = new long[width];
        Array.Fill(output.InputIds, Gpt2Tokenizer.EndOfTextId);
        for (int i = 0, column = width - ids.Length; i < ids.Length; i++, column++)
        {
            output.InputIds[column] = ids[i];
            output.AttentionMask[column] = 1;
        }
    }
}
