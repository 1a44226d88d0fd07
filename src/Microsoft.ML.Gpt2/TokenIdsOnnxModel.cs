using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms.Onnx;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// ML.NET's <c>OnnxTransformer</c> over one of our exported models, fed by the <see cref="TextToTokenIdsOutput"/> columns:
/// ONNX Runtime's ML.NET bridge takes fixed-size vectors only, so the symbolic [batch, sequence] inputs are pinned to
/// [1, <see cref="TextToTokenIdsMapping.MaxTokens"/>] and the model drops the padding itself.
/// </summary>
internal static class TokenIdsOnnxModel
{
    public static OnnxScoringEstimator Apply(MLContext mlContext, string onnxPath, string outputColumnName)
    {
        var fixedShape = new[] { 1, TextToTokenIdsMapping.MaxTokens };
        return mlContext.Transforms.ApplyOnnxModel(
            outputColumnNames: [outputColumnName],
            inputColumnNames: [TextToTokenIdsMapping.InputIdsColumnName, TextToTokenIdsMapping.AttentionMaskColumnName],
            modelFile: onnxPath,
            shapeDictionary: new Dictionary<string, int[]>
            {
                [TextToTokenIdsMapping.InputIdsColumnName] = fixedShape,
                [TextToTokenIdsMapping.AttentionMaskColumnName] = fixedShape,
            },
            gpuDeviceId: null, fallbackToCpu: false, recursionLimit: 100);
    }
}
