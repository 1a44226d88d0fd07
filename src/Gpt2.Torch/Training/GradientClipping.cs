using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>Gradient clipping by global norm: all gradients are scaled together so their joint L2 norm is at most a bound.</summary>
internal static class GradientClipping
{
    /// <summary>
    /// Scales the gradients of <paramref name="parameters"/> in place so that their global L2 norm (all gradients taken
    /// as one vector) is at most <paramref name="maxNorm"/>; gradients already within the bound are left unchanged.
    /// </summary>
    /// <returns>The global norm before clipping (read back from the device: a synchronisation).</returns>
    public static double ClipGlobalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        using Tensor norm = ClipGlobalNormOnDevice(parameters, maxNorm);
        return norm.item<float>();
    }

    /// <summary>
    /// <see cref="ClipGlobalNorm"/> without reading anything back: the scale is computed and applied on the device
    /// (as PyTorch's <c>clip_grad_norm_</c>: max / (norm + 1e-6), capped at 1), so a training step does not wait for it.
    /// </summary>
    /// <returns>The global norm before clipping, a float32 scalar on the gradients' device; the caller disposes it.</returns>
    public static Tensor ClipGlobalNormOnDevice(IEnumerable<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        OptionChecks.Positive(maxNorm, nameof(maxNorm), "1.0");
        using var scope = NewDisposeScope();
        Tensor[] gradients = [.. parameters.Select(p => p.grad).OfType<Tensor>()];
        if (gradients.Length == 0)
            throw new ArgumentException("No parameter has a gradient to clip; run backward first.", nameof(parameters));
        using var noGrad = no_grad();
        Tensor norm = stack(gradients.Select(g => linalg.vector_norm(g, 2).to(float32))).norm();
        Tensor scale = (maxNorm / (norm + 1e-6)).clamp_max(1.0);
        foreach (Tensor gradient in gradients)
            gradient.mul_(scale.to(gradient.dtype));
        return norm.MoveToOuterDisposeScope();
    }
}
