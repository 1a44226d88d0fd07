using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of <see cref="TextPairToTokenIdsMapping"/>.</summary>
public sealed class TextPairToTokenIdsInput
{
    /// <summary>The first text of the pair.</summary>
    [ColumnName(TextToTokenIdsMapping.TextColumnName)]
    public string? Text { get; set; }

    /// <summary>The second text of the pair.</summary>
    [ColumnName(TextPairToTokenIdsMapping.Text2ColumnName)]
    public string? Text2 { get; set; }

    /// <summary>The most tokens the pair keeps, separator included (the classifier's maximum length).</summary>
    [ColumnName(TextPairToTokenIdsMapping.MaxLengthColumnName)]
    public int MaxLength { get; set; }
}

/// <summary>
/// GPT-2 tokenization of text pairs as a persistable ML.NET <c>CustomMapping</c>, the first step of the saved form of a
/// pair classifier: the first text's tokens, <c>&lt;|endoftext|&gt;</c>, the second text's tokens, the longer text cut
/// first to fit the row's maximum length (a column the saved chain sets to the classifier's, so that the zip cuts pairs
/// exactly as the model in memory did), right-padded into the columns of <see cref="TextToTokenIdsOutput"/>.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class TextPairToTokenIdsMapping : CustomMappingFactory<TextPairToTokenIdsInput, TextToTokenIdsOutput>
{
    /// <summary>The contract name saved in model zips.</summary>
    public const string ContractName = "Gpt2MLNet.TextPairToTokenIds.v1";

    /// <summary>The input column of the second text.</summary>
    public const string Text2ColumnName = "Gpt2.Text2";

    /// <summary>The input column of the maximum length (int).</summary>
    public const string MaxLengthColumnName = "Gpt2.MaxLength";

    /// <inheritdoc />
    public override Action<TextPairToTokenIdsInput, TextToTokenIdsOutput> GetMapping() => Map;

    private static void Map(TextPairToTokenIdsInput input, TextToTokenIdsOutput output) =>
        output.Set(Gpt2TextEncoding.EncodePair(input.Text, input.Text2, TextToTokenIdsMapping.TextColumnName, Text2ColumnName,
            Math.Min(input.MaxLength, TextToTokenIdsMapping.MaxTokens)));
}
