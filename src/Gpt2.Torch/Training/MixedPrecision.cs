using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// bfloat16 training with float32 master weights (TorchSharp has no autocast): the model's own parameters become a
/// bfloat16 working copy, cast once when training starts; float32 copies taken before are the masters that clipping
/// and AdamW update. Each step copies the working gradients into the masters' (float32) and, after the update, the masters
/// into the working copy: one cast of the weights per step, none per call. <see cref="ToFloat32"/> puts the masters'
/// exact values back into a float32 model (for checkpoints and when training ends).
/// </summary>
internal sealed class MixedPrecision : IDisposable
{
    private readonly nn.Module _model;
    private readonly (string Name, Parameter Master)[] _masters;
    private (Parameter Working, Parameter Master)[] _trainable = [];

    /// <summary>Copies the model's float32 parameters as the masters and casts the model to bfloat16.</summary>
    public MixedPrecision(nn.Module model)
    {
        _model = model;
        foreach ((string name, Parameter parameter) in model.named_parameters())
            if (parameter.dtype != float32)
                throw new ArgumentException($"Parameter '{name}' is {parameter.dtype}; bfloat16 training starts from a float32 model (its master weights).", nameof(model));
        // Copies: Module.to frees the parameters it replaces.
        using (no_grad())
            _masters = [.. model.named_parameters().Select(p =>
                (p.name, (Parameter)new Parameter(p.parameter.detach().clone(), p.parameter.requires_grad).DetachFromDisposeScope()))];
        ToWorking();
    }

    /// <summary>The float32 masters that the optimizer updates (all of the model's parameters, trainable or not).</summary>
    public IEnumerable<(string Name, Parameter Parameter)> Masters => _masters;

    /// <summary>Casts the model to the bfloat16 working copy of the masters.</summary>
    public void ToWorking()
    {
        Dictionary<string, Parameter> working = Convert(bfloat16);
        _trainable = [.. _masters.Where(m => m.Master.requires_grad).Select(m => (working[m.Name], m.Master))];
    }

    /// <summary>Makes the model float32 again, with the masters' exact values (new parameter objects; the masters stay the optimizer's).</summary>
    public void ToFloat32()
    {
        Dictionary<string, Parameter> model = Convert(float32);
        using var noGrad = no_grad();
        foreach ((string name, Parameter master) in _masters)
            model[name].copy_(master);
        _trainable = [];
    }

    // Module.to replaces (and frees) every parameter with a converted one.
    private Dictionary<string, Parameter> Convert(ScalarType type)
    {
        _model.to(type);
        Dictionary<string, Parameter> converted = _model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (Parameter parameter in converted.Values)
            parameter.DetachFromDisposeScope(); // the model owns them, whatever scope training runs in
        return converted;
    }

    /// <summary>Sets each master's gradient to its working parameter's, in float32.</summary>
    public void GradientsToMasters()
    {
        using var scope = NewDisposeScope();
        foreach ((Parameter working, Parameter master) in _trainable)
        {
            Tensor? gradient = working.grad;
            if (gradient is null)
                continue;
            if (master.grad is Tensor existing)
                existing.copy_(gradient);
            else
                master.grad = gradient.to(float32).DetachFromDisposeScope();
        }
    }

    /// <summary>Copies the updated masters into the working copy (the one cast per step).</summary>
    public void RefreshWorking()
    {
        using var noGrad = no_grad();
        foreach ((Parameter working, Parameter master) in _trainable)
            working.copy_(master);
    }

    /// <summary>Frees the masters; call after <see cref="ToFloat32"/>, when the model holds their values again (and the optimizer points at the model's parameters).</summary>
    public void Dispose()
    {
        foreach ((_, Parameter master) in _masters)
            master.Dispose();
    }
}
