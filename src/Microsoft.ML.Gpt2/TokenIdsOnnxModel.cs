using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms.Onnx;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// ML.NET's <c>OnnxTransformer</c> over one of our exported models, fed by the <see cref="TokenIdsColumns"/>:
/// ONNX Runtime's ML.NET bridge takes fixed-size vectors only, so the symbolic [batch, sequence] inputs are pinned to
/// [1, width] and the model drops the padding itself.
/// </summary>
internal static class TokenIdsOnnxModel
{
    public static OnnxScoringEstimator Apply(MLContext mlContext, string onnxPath, string outputColumnName, int width)
    {
        var fixedShape = new[] { 1, width };
        return mlContext.Transforms.ApplyOnnxModel(
            outputColumnNames: [outputColumnName],
            inputColumnNames: [TokenIdsColumns.InputIds, TokenIdsColumns.AttentionMask],
            modelFile: onnxPath,
            shapeDictionary: new Dictionary<string, int[]>
            {
                [TokenIdsColumns.InputIds] = fixedShape,
                [TokenIdsColumns.AttentionMask] = fixedShape,
            },
            gpuDeviceId: null, fallbackToCpu: false, recursionLimit: 100);
    }
}
