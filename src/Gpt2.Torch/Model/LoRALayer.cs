using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

#pragma warning disable IDE1006 // parameter names are the book's (LoRALayer.A, LoRALayer.B)

/// <summary>
/// The book's <c>LoRALayer</c>: <c>alpha x (x A B)</c> with A [in, rank] Kaiming-uniform (a = sqrt 5, so |A| &lt;= 1/sqrt(rank))
/// and B [rank, out] zero, so a new adapter changes nothing until it trains.
/// </summary>
internal sealed class LoRALayer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter A;
    private readonly Parameter B;
    private readonly double _alpha;

    public LoRALayer(long inFeatures, long outFeatures, int rank, double alpha, Device device, ScalarType dtype) : base("LoRALayer")
    {
        A = new Parameter(empty(inFeatures, rank, dtype, device));
        B = new Parameter(zeros(rank, outFeatures, dtype, device));
        nn.init.kaiming_uniform_(A, a: Math.Sqrt(5));
        _alpha = alpha;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x.matmul(A).matmul(B).mul(_alpha);

    /// <summary>The adapter as a weight update [out, in] in <c>Linear</c>'s layout: alpha x (A B)^T.</summary>
    public Tensor WeightUpdate() => A.matmul(B).t().mul(_alpha);
}
