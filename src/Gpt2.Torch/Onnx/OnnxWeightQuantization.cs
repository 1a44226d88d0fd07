namespace Gpt2.Torch.Onnx;

/// <summary>
/// Weight-only quantization of an exported model's matrices (the blocks' linear layers and the output head) for ONNX
/// Runtime's <c>com.microsoft.MatMulNBits</c>: each run of <paramref name="BlockSize"/> weights along the input dimension
/// is stored as <paramref name="Bits"/>-bit codes with one float scale, symmetric around zero (code - 2^(bits-1)) x scale,
/// where the scale maps the block's largest magnitude to the largest code. Activations, embeddings, LayerNorms and
/// biases are stored float32. Decoding reads a quarter (8 bits) or an eighth (4 bits) of the float32 weight bytes per token.
/// </summary>
/// <param name="Bits">8 or 4.</param>
/// <param name="BlockSize">Weights per scale: a power of two of at least 16.</param>
/// <param name="IntegerActivations">
/// ONNX Runtime's fast CPU path (the operator's <c>accuracy_level</c> 4): it also quantizes each block of activations to
/// int8 on the fly and takes integer dot products (README's benchmarks compare it with float32). False keeps the
/// activations float32 (<c>accuracy_level</c> 0: exactly the dequantized weights' products, but ONNX Runtime's 8-bit
/// kernel is then slower than float32).
/// </param>
public sealed record OnnxWeightQuantization(int Bits = 8, int BlockSize = 32, bool IntegerActivations = true)
{
    /// <summary>8-bit codes, blocks of 32.</summary>
    public static OnnxWeightQuantization Int8 { get; } = new(8);

    /// <summary>4-bit codes, blocks of 32.</summary>
    public static OnnxWeightQuantization Int4 { get; } = new(4);

    /// <summary>The code that stands for zero.</summary>
    internal int ZeroPoint => 1 << (Bits - 1);

    /// <summary>The largest magnitude code: 127 for 8 bits, 7 for 4 bits.</summary>
    internal int MaxCode => ZeroPoint - 1;

    /// <summary>Throws when the settings are not ones MatMulNBits takes.</summary>
    internal void Validate()
    {
        OptionChecks.Check(Bits is 4 or 8, nameof(Bits), Bits, "8 or 4 (ONNX Runtime's MatMulNBits)");
        OptionChecks.Check(BlockSize >= 16 && (BlockSize & (BlockSize - 1)) == 0, nameof(BlockSize), BlockSize, "a power of two of at least 16 (for example 32)");
    }
}
