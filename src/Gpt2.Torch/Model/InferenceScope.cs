using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

/// <summary>
/// Evaluation mode (dropout off) and no gradients for a module until disposed; then the module's mode is restored,
/// so evaluating in the middle of training leaves training mode on.
/// </summary>
internal readonly struct InferenceScope : IDisposable
{
    private readonly nn.Module _module;
    private readonly bool _wasTraining;
    private readonly IDisposable _noGrad;

    public InferenceScope(nn.Module module)
    {
        _module = module;
        _wasTraining = module.training;
        module.eval();
        _noGrad = no_grad();
    }

    public void Dispose()
    {
        _noGrad.Dispose();
        _module.train(_wasTraining);
    }
}
