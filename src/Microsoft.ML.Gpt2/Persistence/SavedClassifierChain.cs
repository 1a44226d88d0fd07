using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>
/// The saved form of <see cref="Gpt2TextClassificationTransformer"/>: ML.NET's own persistable transformers only.
/// ML.NET keeps the model-saving API internal to its own assemblies, so a third-party transformer saves as a chain of
/// public ones: copy the text column, tokenize (<see cref="TextToTokenIdsMapping"/>), run the exported ONNX model,
/// copy its probabilities to the score column, take the arg max (<see cref="ScoreArgMaxMapping"/>), map it to the
/// label's key with the label's key values, and drop the intermediate columns.
/// </summary>
internal static class SavedClassifierChain
{
    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }

    public static ITransformer Fit(MLContext mlContext, string onnxPath, ClassLabels labels,
        string textColumnName, string scoreColumnName, string predictedLabelColumnName)
    {
        mlContext.RegisterGpt2Components();
        var pipeline = mlContext.Transforms.CopyColumns(TextToTokenIdsMapping.TextColumnName, textColumnName)
            .Append(mlContext.Transforms.CustomMapping(new TextToTokenIdsMapping().GetMapping(), TextToTokenIdsMapping.ContractName))
            .Append(TokenIdsOnnxModel.Apply(mlContext, onnxPath, ScoreArgMaxMapping.ProbabilitiesColumnName))
            .Append(mlContext.Transforms.CopyColumns(scoreColumnName, ScoreArgMaxMapping.ProbabilitiesColumnName))
            .Append(mlContext.Transforms.CustomMapping(new ScoreArgMaxMapping().GetMapping(), ScoreArgMaxMapping.ContractName))
            .Append(labels.MapIndexToKey(mlContext, predictedLabelColumnName, ScoreArgMaxMapping.PredictedIndexColumnName))
            .Append(mlContext.Transforms.DropColumns(
                TextToTokenIdsMapping.TextColumnName, TextToTokenIdsMapping.InputIdsColumnName, TextToTokenIdsMapping.AttentionMaskColumnName,
                ScoreArgMaxMapping.ProbabilitiesColumnName, ScoreArgMaxMapping.PredictedIndexColumnName));

        var input = SchemaDefinition.Create(typeof(TextRow));
        input[nameof(TextRow.Text)].ColumnName = textColumnName;
        return pipeline.Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<TextRow>(), input));
    }
}
