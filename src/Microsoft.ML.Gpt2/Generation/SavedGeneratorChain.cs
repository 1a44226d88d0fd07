using Gpt2.Torch.Tokenization;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Persistence;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// The saved form of the generating transformers, made of ML.NET's own persistable transformers (ML.NET keeps its
/// model-saving API internal to its own assemblies): build the prompt column, tokenize it with the model's tokenizer (<see cref="SavedTokenization"/>, rows as wide as the context),
/// run the model inside ONNX Runtime's GreedySearch (or Sampling), decode the new tokens with the same tokenizer, copy
/// the text to the output column, and drop the intermediate columns.
/// </summary>
internal static class SavedGeneratorChain
{
    public static ITransformer Fit(MLContext mlContext, string onnxPath, LanguageModelTokenizer tokenizer, int contextLength, IEstimator<ITransformer> prompt, string[] sourceColumnNames,
        string outputColumnName, bool trim)
    {
        mlContext.RegisterGpt2Components();
        int width = SavedTokenization.PromptWidth(tokenizer, contextLength);
        var pipeline = prompt
            .Append(SavedTokenization.Prompt(mlContext, tokenizer, width))
            .Append(TokenIdsOnnxModel.Apply(mlContext, onnxPath, TokenIdsToTextMapping.GeneratedIdsColumnName, width))
            .Append(SavedTokenization.GeneratedText(mlContext, tokenizer))
            .Append(mlContext.Transforms.CopyColumns(outputColumnName, trim ? TokenIdsToTextMapping.TrimmedTextColumnName : TokenIdsToTextMapping.GeneratedTextColumnName))
            .Append(mlContext.Transforms.DropColumns([
                PromptToTokenIdsInput.PromptColumnName, TokenIdsColumns.InputIds, TokenIdsColumns.AttentionMask,
                TokenIdsToTextMapping.GeneratedIdsColumnName, TokenIdsToTextMapping.GeneratedTextColumnName, TokenIdsToTextMapping.TrimmedTextColumnName,
                .. SavedTokenization.HelperColumns(tokenizer)]));
        return pipeline.Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<TextGenerationMapper.SourceRow>(), TextGenerationMapper.SourceSchema(sourceColumnNames)));
    }
}
