using static TorchSharp.torch;

namespace Gpt2.Torch.Onnx;

/// <summary>A linear layer as ONNX nodes, the one way every family's graph writes one: float MatMul, or MatMulNBits when quantized.</summary>
internal static class OnnxLinear
{
    /// <summary>The domain of ONNX Runtime's contrib operators (MatMulNBits).</summary>
    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>
    /// x W^T + b with a TorchSharp Linear's [out, in] weight <c>{prefix}.weight</c>, stored [in, out] for MatMul, or as
    /// MatMulNBits' block codes when <paramref name="quantization"/> is set; the bias <c>{prefix}.bias</c> when asked.
    /// </summary>
    public static string Linear(OnnxGraph graph, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization, string prefix, string x,
        int inFeatures, int outFeatures, bool bias)
    {
        string y = quantization is not null
            ? QuantizedMatMul(graph, quantization, prefix, x, () => parameter($"{prefix}.weight"), inFeatures, outFeatures)
            : graph.Node("MatMul", [x, graph.Weight($"{prefix}.weight", [inFeatures, outFeatures], () => parameter($"{prefix}.weight").t())]);
        return bias ? graph.Node("Add", [y, graph.Weight($"{prefix}.bias", [outFeatures], () => parameter($"{prefix}.bias"))]) : y;
    }

    /// <summary>x W^T with W [out, in] stored as MatMulNBits' block codes and scales (quantized when the model is written).</summary>
    public static string QuantizedMatMul(OnnxGraph graph, OnnxWeightQuantization q, string prefix, string x, Func<Tensor> weight, int inFeatures,
        int outFeatures, string? output = null)
    {
        long blocks = BlockQuantizer.BlockCount(inFeatures, q);
        string codes = graph.Weight($"{prefix}.weight_codes", OnnxDataType.UInt8, [outFeatures, blocks, q.BlockSize * q.Bits / 8],
            () => BlockQuantizer.Quantize(weight(), q).Codes);
        string scales = graph.Weight($"{prefix}.weight_scales", [outFeatures, blocks], () => BlockQuantizer.Quantize(weight(), q).Scales);
        return graph.Node("MatMulNBits", [x, codes, scales], output is null ? [graph.NewName("MatMulNBits")] : [output], MicrosoftDomain,
            OnnxAttribute.Int("K", inFeatures), OnnxAttribute.Int("N", outFeatures), OnnxAttribute.Int("bits", q.Bits),
            OnnxAttribute.Int("block_size", q.BlockSize), OnnxAttribute.Int("accuracy_level", q.IntegerActivations ? 4 : 0))[0];
    }
}
