namespace Gpt2.Torch;

/// <summary>
/// The number format a model computes in. Training in <see cref="BFloat16"/> keeps float32 master weights and optimizer
/// state and runs the forward and backward passes in bfloat16, with the loss and its softmax in float32.
/// </summary>
public enum Precision
{
    /// <summary>Everything in float32 (the default, and the reference the tests compare against).</summary>
    Float32,

    /// <summary>Matrix products and activations in bfloat16: float32's range with 8 bits of mantissa, about twice as fast where the hardware has bfloat16 units.</summary>
    BFloat16,
}
