using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>Gradient clipping by global norm: all gradients are scaled together so their joint L2 norm is at most a bound.</summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales the gradients of <paramref name="parameters"/> in place so that their global L2 norm (all gradients taken
    /// as one vector) is at most <paramref name="maxNorm"/>; gradients already within the bound are left unchanged.
    /// </summary>
    /// <returns>The global norm before clipping.</returns>
    public static double ClipGlobalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        OptionChecks.Positive(maxNorm, nameof(maxNorm), "1.0");
        return nn.utils.clip_grad_norm_(parameters, maxNorm);
    }
}
