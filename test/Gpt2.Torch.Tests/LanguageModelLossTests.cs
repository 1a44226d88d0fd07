using Gpt2.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class LanguageModelLossTests
{
    // More tokens than one slice, and not a multiple of it, so the last slice is a partial one.
    private static readonly long Tokens = 2 * LanguageModelLoss.TokensPerSlice + 11;

    private static (Tensor Hidden, Tensor Weight, Tensor Targets) Inputs(ScalarType type)
    {
        random.manual_seed(11);
        Tensor hidden = randn(1, Tokens, 16).to(type).requires_grad_();
        Tensor weight = (randn(50, 16) * 0.5).to(type).requires_grad_();
        Tensor targets = randint(0, 50, [1, Tokens], dtype: int64);
        targets[0, 3] = tensor(-100L);   // ignored, as cross_entropy's default ignore_index
        targets[0, Tokens - 1] = tensor(-100L);
        return (hidden, weight, targets);
    }

    private static double MaxDifference(Tensor a, Tensor b) => (a.to(float64) - b.to(float64)).abs().max().item<double>();

    [TestMethod]
    public void OutputHeadCrossEntropyEqualsCrossEntropyOfTheLogitsWithItsGradients()
    {
        using var scope = NewDisposeScope();
        (Tensor hidden, Tensor weight, Tensor targets) = Inputs(float32);
        // Scaled as the loop scales an accumulated batch: backward brings a factor other than 1.
        (LanguageModelLoss.OutputHeadCrossEntropy(hidden, weight, targets) / 3).backward();
        Tensor ourHidden = hidden.grad!.clone(), ourWeight = weight.grad!.clone();
        Tensor ours = LanguageModelLoss.OutputHeadCrossEntropy(hidden, weight, targets);
        hidden.grad!.zero_();
        weight.grad!.zero_();

        Tensor reference = F.cross_entropy(hidden.matmul(weight.t()).flatten(0, 1), targets.flatten());
        (reference / 3).backward();

        Assert.AreEqual(reference.item<float>(), ours.item<float>(), 1e-5);
        Assert.IsTrue(MaxDifference(ourHidden, hidden.grad!) < 1e-6, $"hidden gradient differs by {MaxDifference(ourHidden, hidden.grad!)}");
        Assert.IsTrue(MaxDifference(ourWeight, weight.grad!) < 1e-6, $"weight gradient differs by {MaxDifference(ourWeight, weight.grad!)}");
        Assert.IsTrue(ourWeight.abs().max().item<float>() > 1e-3, "The weight gradient is not all zero.");
    }

    [TestMethod]
    public void InBFloat16TheSoftmaxIsFloat32AndTheGradientsAreThoseOfTheFloat32Loss()
    {
        using var scope = NewDisposeScope();
        (Tensor hidden, Tensor weight, Tensor targets) = Inputs(bfloat16);
        Tensor ours = LanguageModelLoss.OutputHeadCrossEntropy(hidden, weight, targets);
        Assert.AreEqual(float32, ours.dtype);
        ours.backward();
        Tensor ourHidden = hidden.grad!.clone(), ourWeight = weight.grad!.clone();
        hidden.grad!.zero_();
        weight.grad!.zero_();

        // The product's previous recipe: bfloat16 logits taken to float32 for cross_entropy.
        Tensor reference = F.cross_entropy(hidden.matmul(weight.t()).to(float32).flatten(0, 1), targets.flatten());
        reference.backward();

        Assert.AreEqual(reference.item<float>(), ours.item<float>(), 1e-4);
        // Both round the logits' gradient to bfloat16 before the head's products: equal to bfloat16's precision.
        double hiddenScale = hidden.grad!.abs().max().to(float32).item<float>(), weightScale = weight.grad!.abs().max().to(float32).item<float>();
        Assert.IsTrue(MaxDifference(ourHidden, hidden.grad!) < 0.02 * hiddenScale, $"hidden gradient differs by {MaxDifference(ourHidden, hidden.grad!)} of {hiddenScale}");
        Assert.IsTrue(MaxDifference(ourWeight, weight.grad!) < 0.02 * weightScale, $"weight gradient differs by {MaxDifference(ourWeight, weight.grad!)} of {weightScale}");
    }

    [TestMethod]
    public void WithoutGradientsOnlyTheLossIsComputed()
    {
        using var scope = NewDisposeScope();
        (Tensor hidden, Tensor weight, Tensor targets) = Inputs(float32);
        Tensor reference = F.cross_entropy(hidden.matmul(weight.t()).flatten(0, 1), targets.flatten());
        using var noGrad = no_grad();
        Tensor ours = LanguageModelLoss.OutputHeadCrossEntropy(hidden, weight, targets);
        Assert.IsFalse(ours.requires_grad);
        Assert.AreEqual(reference.item<float>(), ours.item<float>(), 1e-5);
    }
}
