using Gpt2.Torch.Tokenization;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Persistence;

namespace Microsoft.ML.Gpt2.Classification;

/// <summary>
/// The saved form of <see cref="Gpt2TextClassificationTransformer"/>: ML.NET's own persistable transformers only.
/// ML.NET keeps the model-saving API internal to its own assemblies, so a third-party transformer saves as a chain of
/// public ones: copy the text column(s), tokenize with the model's tokenizer (GPT-2's built-in one, or one the zip carries: see <see cref="SavedTokenization"/>; <see cref="TextToTokenIdsMapping{TRow}"/>, or
/// <see cref="TextPairToTokenIdsMapping{TRow}"/> for pairs, as rows wide enough for the maximum length), run the exported ONNX model, copy its probabilities to the score
/// column, take the arg max (<see cref="ScoreArgMaxMapping"/>), map it to the label's key with the label's key values,
/// and drop the intermediate columns.
/// </summary>
internal static class SavedClassifierChain
{
    public static ITransformer Fit(MLContext mlContext, string onnxPath, LanguageModelTokenizer tokenizer, ClassLabels labels, string sentence1ColumnName, string? sentence2ColumnName,
        int maxLength, string scoreColumnName, string predictedLabelColumnName)
    {
        mlContext.RegisterGpt2Components();
        int width = TokenIdsColumns.WidthFor(maxLength);
        IEstimator<ITransformer> tokenize = sentence2ColumnName is null
            ? mlContext.Transforms.CopyColumns(TextToTokenIdsInput.TextColumnName, sentence1ColumnName)
                .Append(SavedTokenization.Text(mlContext, tokenizer, width))
            : mlContext.Transforms.CopyColumns(TextToTokenIdsInput.TextColumnName, sentence1ColumnName)
                .Append(mlContext.Transforms.CopyColumns(TextPairToTokenIdsInput.Text2ColumnName, sentence2ColumnName))
                .Append(mlContext.Transforms.Expression(TextPairToTokenIdsInput.MaxLengthColumnName, $"text => {maxLength}", sentence1ColumnName))
                .Append(SavedTokenization.Pair(mlContext, tokenizer, width));
        string[] intermediate = [TextToTokenIdsInput.TextColumnName,
            .. sentence2ColumnName is null ? [] : new[] { TextPairToTokenIdsInput.Text2ColumnName, TextPairToTokenIdsInput.MaxLengthColumnName },
            .. SavedTokenization.HelperColumns(tokenizer),
            TokenIdsColumns.InputIds, TokenIdsColumns.AttentionMask, ScoreArgMaxMapping.ProbabilitiesColumnName, ScoreArgMaxMapping.PredictedIndexColumnName];
        var pipeline = tokenize
            .Append(TokenIdsOnnxModel.Apply(mlContext, onnxPath, ScoreArgMaxMapping.ProbabilitiesColumnName, width))
            .Append(mlContext.Transforms.CopyColumns(scoreColumnName, ScoreArgMaxMapping.ProbabilitiesColumnName))
            .Append(mlContext.Transforms.CustomMapping(new ScoreArgMaxMapping().GetMapping(), ScoreArgMaxMapping.ContractName))
            .Append(labels.MapIndexToKey(mlContext, predictedLabelColumnName, ScoreArgMaxMapping.PredictedIndexColumnName))
            .Append(mlContext.Transforms.DropColumns(intermediate));

        SchemaDefinition input = Gpt2TextClassificationTransformer.InputSchema(
            sentence2ColumnName is null ? [sentence1ColumnName] : [sentence1ColumnName, sentence2ColumnName]);
        return pipeline.Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<Gpt2TextClassificationTransformer.TextRow>(), input));
    }
}
