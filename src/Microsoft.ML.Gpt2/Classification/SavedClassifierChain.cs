using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Persistence;

namespace Microsoft.ML.Gpt2.Classification;

/// <summary>
/// The saved form of <see cref="Gpt2TextClassificationTransformer"/>: ML.NET's own persistable transformers only.
/// ML.NET keeps the model-saving API internal to its own assemblies, so a third-party transformer saves as a chain of
/// public ones: copy the text column(s), tokenize (<see cref="TextToTokenIdsMapping"/>, or
/// <see cref="TextPairToTokenIdsMapping"/> for pairs), run the exported ONNX model, copy its probabilities to the score
/// column, take the arg max (<see cref="ScoreArgMaxMapping"/>), map it to the label's key with the label's key values,
/// and drop the intermediate columns.
/// </summary>
internal static class SavedClassifierChain
{
    public static ITransformer Fit(MLContext mlContext, string onnxPath, ClassLabels labels, string sentence1ColumnName, string? sentence2ColumnName,
        int maxLength, string scoreColumnName, string predictedLabelColumnName)
    {
        mlContext.RegisterGpt2Components();
        IEstimator<ITransformer> tokenize = sentence2ColumnName is null
            ? mlContext.Transforms.CopyColumns(TextToTokenIdsMapping.TextColumnName, sentence1ColumnName)
                .Append(mlContext.Transforms.CustomMapping(new TextToTokenIdsMapping().GetMapping(), TextToTokenIdsMapping.ContractName))
            : mlContext.Transforms.CopyColumns(TextToTokenIdsMapping.TextColumnName, sentence1ColumnName)
                .Append(mlContext.Transforms.CopyColumns(TextPairToTokenIdsMapping.Text2ColumnName, sentence2ColumnName))
                .Append(mlContext.Transforms.Expression(TextPairToTokenIdsMapping.MaxLengthColumnName, $"text => {maxLength}", sentence1ColumnName))
                .Append(mlContext.Transforms.CustomMapping(new TextPairToTokenIdsMapping().GetMapping(), TextPairToTokenIdsMapping.ContractName));
        string[] intermediate = [TextToTokenIdsMapping.TextColumnName, .. sentence2ColumnName is null ? [] : new[] { TextPairToTokenIdsMapping.Text2ColumnName, TextPairToTokenIdsMapping.MaxLengthColumnName },
            TextToTokenIdsMapping.InputIdsColumnName, TextToTokenIdsMapping.AttentionMaskColumnName,
            ScoreArgMaxMapping.ProbabilitiesColumnName, ScoreArgMaxMapping.PredictedIndexColumnName];
        var pipeline = tokenize
            .Append(TokenIdsOnnxModel.Apply(mlContext, onnxPath, ScoreArgMaxMapping.ProbabilitiesColumnName))
            .Append(mlContext.Transforms.CopyColumns(scoreColumnName, ScoreArgMaxMapping.ProbabilitiesColumnName))
            .Append(mlContext.Transforms.CustomMapping(new ScoreArgMaxMapping().GetMapping(), ScoreArgMaxMapping.ContractName))
            .Append(labels.MapIndexToKey(mlContext, predictedLabelColumnName, ScoreArgMaxMapping.PredictedIndexColumnName))
            .Append(mlContext.Transforms.DropColumns(intermediate));

        SchemaDefinition input = Gpt2TextClassificationTransformer.InputSchema(
            sentence2ColumnName is null ? [sentence1ColumnName] : [sentence1ColumnName, sentence2ColumnName]);
        return pipeline.Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<Gpt2TextClassificationTransformer.TextRow>(), input));
    }
}
