using static TorchSharp.torch;

namespace Gpt2.Torch.Onnx;

/// <summary>Quantizes a weight matrix into the layout of ONNX Runtime's <c>MatMulNBits</c>, and back.</summary>
internal static class BlockQuantizer
{
    /// <summary>Blocks along the input dimension of a matrix with <paramref name="inFeatures"/> inputs.</summary>
    public static long BlockCount(long inFeatures, OnnxWeightQuantization quantization) =>
        (inFeatures + quantization.BlockSize - 1) / quantization.BlockSize;

    /// <summary>
    /// Codes [out, blocks, block x bits / 8] (uint8, two 4-bit codes a byte, the first in the low nibble) and scales
    /// [out, blocks] (float32) of <paramref name="weight"/> [out, in], the input dimension zero-padded to whole blocks.
    /// </summary>
    public static (Tensor Codes, Tensor Scales) Quantize(Tensor weight, OnnxWeightQuantization quantization)
    {
        using var scope = NewDisposeScope();
        Tensor w = weight.detach().to(float32).cpu();
        long outFeatures = w.shape[0], inFeatures = w.shape[1], blocks = BlockCount(inFeatures, quantization);
        if (blocks * quantization.BlockSize > inFeatures)
            w = nn.functional.pad(w, [0, blocks * quantization.BlockSize - inFeatures]);
        Tensor grouped = w.view(outFeatures, blocks, quantization.BlockSize);
        Tensor scales = grouped.abs().amax([-1]) / quantization.MaxCode;
        // An all-zero block keeps scale 0 (it dequantizes to zeros); dividing by 1 there avoids NaN codes.
        Tensor divisor = scales.where(scales > 0, ones_like(scales)).unsqueeze(-1);
        Tensor codes = (grouped / divisor).round().clamp(-quantization.MaxCode, quantization.MaxCode) + quantization.ZeroPoint;
        codes = codes.to(uint8);
        if (quantization.Bits == 4)
        {
            Tensor pairs = codes.view(outFeatures, blocks, quantization.BlockSize / 2, 2);
            codes = pairs.select(-1, 0).bitwise_or(pairs.select(-1, 1).bitwise_left_shift(4));
        }
        return (codes.contiguous().MoveToOuterDisposeScope(), scales.contiguous().MoveToOuterDisposeScope());
    }

    /// <summary>The float32 matrix [out, in] that <paramref name="codes"/> and <paramref name="scales"/> stand for.</summary>
    public static Tensor Dequantize(Tensor codes, Tensor scales, long inFeatures, OnnxWeightQuantization quantization)
    {
        using var scope = NewDisposeScope();
        Tensor values = codes.to(int32);
        if (quantization.Bits == 4)
            values = stack([values.bitwise_and(15), values.bitwise_right_shift(4)], -1).flatten(-2);
        Tensor w = (values.to(float32) - quantization.ZeroPoint) * scales.unsqueeze(-1);
        return w.flatten(1).narrow(1, 0, inFeatures).contiguous().MoveToOuterDisposeScope();
    }
}
