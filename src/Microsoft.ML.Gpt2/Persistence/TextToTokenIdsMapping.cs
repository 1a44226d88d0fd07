using Gpt2.Torch.Tokenization;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of <see cref="TextToTokenIdsMapping"/>.</summary>
public sealed class TextToTokenIdsInput
{
    /// <summary>The text to tokenize.</summary>
    [ColumnName(TextToTokenIdsMapping.TextColumnName)]
    public string? Text { get; set; }
}

/// <summary>The output row of <see cref="TextToTokenIdsMapping"/>: GPT-2 token ids right-padded to a fixed length, and their mask.</summary>
public sealed class TextToTokenIdsOutput
{
    /// <summary>Token ids, padded with <c>&lt;|endoftext|&gt;</c>.</summary>
    [ColumnName(TextToTokenIdsMapping.InputIdsColumnName), VectorType(TextToTokenIdsMapping.MaxTokens)]
    public long[] InputIds { get; set; } = [];

    /// <summary>1 for a real token, 0 for padding.</summary>
    [ColumnName(TextToTokenIdsMapping.AttentionMaskColumnName), VectorType(TextToTokenIdsMapping.MaxTokens)]
    public long[] AttentionMask { get; set; } = [];

    /// <summary>Sets the row to <paramref name="ids"/>, padded with <c>&lt;|endoftext|&gt;</c> on the right, or on the left when <paramref name="leftPadded"/>.</summary>
    internal void Set(int[] ids, bool leftPadded = false)
    {
        const int width = TextToTokenIdsMapping.MaxTokens;
        InputIds = new long[width];
        AttentionMask = new long[width];
        Array.Fill(InputIds, Gpt2Tokenizer.EndOfTextId);
        for (int i = 0, column = leftPadded ? width - ids.Length : 0; i < ids.Length; i++, column++)
        {
            InputIds[column] = ids[i];
            AttentionMask[column] = 1;
        }
    }
}

/// <summary>
/// GPT-2 tokenization as a persistable ML.NET <c>CustomMapping</c>, the first step of the saved form of our models.
/// ONNX Runtime's ML.NET bridge accepts only fixed-size vectors, so every text becomes <see cref="MaxTokens"/> ids
/// (GPT-2's context); the exported ONNX graph drops the padding before any computation.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class TextToTokenIdsMapping : CustomMappingFactory<TextToTokenIdsInput, TextToTokenIdsOutput>
{
    /// <summary>The contract name saved in model zips.</summary>
    public const string ContractName = "Gpt2MLNet.TextToTokenIds.v1";

    /// <summary>The input column.</summary>
    public const string TextColumnName = "Gpt2.Text";

    /// <summary>The token-id column, named after the ONNX graph's input.</summary>
    public const string InputIdsColumnName = "input_ids";

    /// <summary>The mask column, named after the ONNX graph's input.</summary>
    public const string AttentionMaskColumnName = "attention_mask";

    /// <summary>Length of the output vectors; longer texts keep their first <see cref="MaxTokens"/> tokens.</summary>
    public const int MaxTokens = 1024;

    /// <inheritdoc />
    public override Action<TextToTokenIdsInput, TextToTokenIdsOutput> GetMapping() => Map;

    private static void Map(TextToTokenIdsInput input, TextToTokenIdsOutput output) =>
        output.Set(Gpt2TextEncoding.Encode(input.Text, TextColumnName, MaxTokens));
}
