using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Persistence;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// The saved form of the generating transformers, made of ML.NET's own persistable transformers (ML.NET keeps its
/// model-saving API internal to its own assemblies): build the prompt column, tokenize it (<see cref="PromptToTokenIdsMapping{TRow}"/>, rows as wide as the context),
/// run the model inside ONNX Runtime's GreedySearch (or Sampling), decode the new tokens (<see cref="TokenIdsToTextMapping"/>), copy
/// the text to the output column, and drop the intermediate columns.
/// </summary>
internal static class SavedGeneratorChain
{
    public static ITransformer Fit(MLContext mlContext, string onnxPath, int contextLength, IEstimator<ITransformer> prompt, string[] sourceColumnNames,
        string outputColumnName, bool trim)
    {
        mlContext.RegisterGpt2Components();
        int width = TokenIdsColumns.WidthFor(contextLength);
        var pipeline = prompt
            .Append(SavedTokenization.Prompt(mlContext, width))
            .Append(TokenIdsOnnxModel.Apply(mlContext, onnxPath, TokenIdsToTextMapping.GeneratedIdsColumnName, width))
            .Append(mlContext.Transforms.CustomMapping(new TokenIdsToTextMapping().GetMapping(), TokenIdsToTextMapping.ContractName))
            .Append(mlContext.Transforms.CopyColumns(outputColumnName, trim ? TokenIdsToTextMapping.TrimmedTextColumnName : TokenIdsToTextMapping.GeneratedTextColumnName))
            .Append(mlContext.Transforms.DropColumns(
                PromptToTokenIdsInput.PromptColumnName, TokenIdsColumns.InputIds, TokenIdsColumns.AttentionMask,
                TokenIdsToTextMapping.GeneratedIdsColumnName, TokenIdsToTextMapping.GeneratedTextColumnName, TokenIdsToTextMapping.TrimmedTextColumnName));
        return pipeline.Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<TextGenerationMapper.SourceRow>(), TextGenerationMapper.SourceSchema(sourceColumnNames)));
    }
}
