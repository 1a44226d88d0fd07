using Gpt2.Torch.Onnx;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Generation;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>
/// The saved form of the generating transformers, made of ML.NET's own persistable transformers (see
/// <see cref="SavedClassifierChain"/> for why): build the prompt column, tokenize it (<see cref="PromptToTokenIdsMapping"/>),
/// run the model inside ONNX Runtime's GreedySearch, decode the new tokens (<see cref="TokenIdsToTextMapping"/>), copy
/// the text to the output column, and drop the intermediate columns.
/// </summary>
internal static class SavedGeneratorChain
{
    /// <summary>The prompt column the chain's first step must produce.</summary>
    public const string PromptColumnName = "Gpt2.Prompt";

    /// <summary>The ONNX model's output column.</summary>
    public const string GeneratedIdsColumnName = Gpt2OnnxNames.GeneratedIds;

    /// <summary>The decoded continuation.</summary>
    public const string GeneratedTextColumnName = "Gpt2.GeneratedText";

    /// <summary>The decoded continuation, trimmed.</summary>
    public const string TrimmedTextColumnName = "Gpt2.TrimmedText";

    public static ITransformer Fit(MLContext mlContext, string onnxPath, IEstimator<ITransformer> prompt, string[] sourceColumnNames,
        string outputColumnName, bool trim)
    {
        mlContext.RegisterGpt2Components();
        var pipeline = prompt
            .Append(mlContext.Transforms.CustomMapping(new PromptToTokenIdsMapping().GetMapping(), PromptToTokenIdsMapping.ContractName))
            .Append(TokenIdsOnnxModel.Apply(mlContext, onnxPath, GeneratedIdsColumnName))
            .Append(mlContext.Transforms.CustomMapping(new TokenIdsToTextMapping().GetMapping(), TokenIdsToTextMapping.ContractName))
            .Append(mlContext.Transforms.CopyColumns(outputColumnName, trim ? TrimmedTextColumnName : GeneratedTextColumnName))
            .Append(mlContext.Transforms.DropColumns(
                PromptColumnName, TextToTokenIdsMapping.InputIdsColumnName, TextToTokenIdsMapping.AttentionMaskColumnName,
                GeneratedIdsColumnName, GeneratedTextColumnName, TrimmedTextColumnName));
        return pipeline.Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<TextGenerationMapper.SourceRow>(), TextGenerationMapper.SourceSchema(sourceColumnNames)));
    }
}
