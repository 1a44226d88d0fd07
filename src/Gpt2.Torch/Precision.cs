using static TorchSharp.torch;

namespace Gpt2.Torch;

/// <summary>The number format a model's weights and activations are computed in.</summary>
public enum Precision
{
    /// <summary>32-bit floating point: the reference results.</summary>
    Float32,

    /// <summary>
    /// bfloat16: float32's 8-bit exponent with an 8-bit significand (7 bits stored), so each rounding has a relative error of
    /// at most 2^-8 (about 0.4%). Half the memory of float32, and matrix products run faster on CPUs with AVX-512 BF16 and
    /// on GPUs with bfloat16 tensor cores (README's benchmarks).
    /// </summary>
    BFloat16,
}

/// <summary>Conversions between <see cref="Precision"/> and TorchSharp's element types.</summary>
internal static class PrecisionExtensions
{
    /// <summary>The TorchSharp element type of <paramref name="precision"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a <see cref="Precision"/> value.</exception>
    public static ScalarType ToScalarType(this Precision precision) => precision switch
    {
        Precision.Float32 => ScalarType.Float32,
        Precision.BFloat16 => ScalarType.BFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Precision is Float32 or BFloat16."),
    };

    /// <summary>The <see cref="Precision"/> of tensors of element type <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Neither float32 nor bfloat16.</exception>
    public static Precision ToPrecision(this ScalarType type) => type switch
    {
        ScalarType.Float32 => Precision.Float32,
        ScalarType.BFloat16 => Precision.BFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Only float32 and bfloat16 tensors have a Precision."),
    };
}
