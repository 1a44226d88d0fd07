using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Model;

#pragma warning disable IDE1006 // parameter names are checkpoint names (weight, bias), the adapter's is the book's (lora)

/// <summary>
/// A linear layer, <c>x W^T + b</c>, that can carry a <see cref="LoRALayer"/> (the book's <c>LinearWithLoRA</c>). Unlike the
/// book's wrapper it keeps its weight and bias as its own parameters, so their checkpoint names stay
/// <c>...c_attn.weight</c> with or without an adapter; the adapter's are <c>...c_attn.lora.A</c> and <c>...lora.B</c>.
/// </summary>
internal sealed class LinearWithLoRA : nn.Module<Tensor, Tensor>
{
    private Parameter weight;
    private Parameter? bias;
    private LoRALayer? lora;

    /// <summary>
    /// Initialised as <c>nn.Linear</c> is (Kaiming-uniform weight, uniform bias within 1/sqrt(in)), or left uninitialised
    /// when <paramref name="initialize"/> is false (for a model whose weights a checkpoint fills at once).
    /// </summary>
    public LinearWithLoRA(long inFeatures, long outFeatures, bool hasBias = true, bool initialize = true) : base("LinearWithLoRA")
    {
        weight = new Parameter(empty(outFeatures, inFeatures));
        if (initialize)
            nn.init.kaiming_uniform_(weight, a: Math.Sqrt(5));
        if (hasBias)
        {
            bias = new Parameter(empty(outFeatures));
            if (initialize)
                nn.init.uniform_(bias, -1 / Math.Sqrt(inFeatures), 1 / Math.Sqrt(inFeatures));
        }
        RegisterComponents();
    }

    public bool HasAdapter => lora is not null;

    public override Tensor forward(Tensor x)
    {
        Tensor y = F.linear(x, weight, bias);
        return lora is null ? y : y + lora.forward(x);
    }

    public void AddAdapter(int rank, double alpha)
    {
        lora = new LoRALayer(weight.shape[1], weight.shape[0], rank, alpha, weight.device, weight.dtype);
        register_module(nameof(lora), lora);
    }

    /// <summary>Folds the adapter into the weight and removes it.</summary>
    public void MergeAdapter()
    {
        if (lora is null)
            return;
        using (no_grad())
        using (Tensor update = lora.WeightUpdate())
            weight.add_(update);
        register_module(nameof(lora), null!);
        lora.Dispose();
        lora = null;
    }
}
