using TorchSharp;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// The fill values of the logits processors, as scalars held for the process's life. A <see cref="Scalar"/> converted
/// from a double at the call is kept alive by nothing but its handle while the native call reads it, so the collector
/// can finalize it mid-call, which fails at random (c10's Scalar toFloat check) under allocation pressure.
/// </summary>
internal static class FillValues
{
    /// <summary>Minus infinity: a token the processor rules out.</summary>
    public static Scalar NegativeInfinity { get; } = double.NegativeInfinity;

    /// <summary>Plus infinity.</summary>
    public static Scalar PositiveInfinity { get; } = double.PositiveInfinity;
}
