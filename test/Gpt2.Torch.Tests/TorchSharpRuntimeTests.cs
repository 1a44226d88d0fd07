using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>Proves the native TorchSharp backend loads and computes on this machine (see src/Gpt2.Torch/buildTransitive/WeakenLibstdcxxVersionNeed.cs).</summary>
[TestClass]
public sealed class TorchSharpRuntimeTests
{
    [TestMethod]
    public void MatmulMatchesAHandComputedProduct()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        using var b = tensor(new float[] { 7, 8, 9, 10, 11, 12 }, [3, 2]);
        using var product = a.matmul(b);
        CollectionAssert.AreEqual(new float[] { 58, 64, 139, 154 }, product.data<float>().ToArray());
    }

    [TestMethod]
    public void ScaledDotProductAttentionMatchesSoftmaxOfScaledScores()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(7);
        Tensor q = randn(2, 3, 5, 8), k = randn(2, 3, 5, 8), v = randn(2, 3, 5, 8);
        Tensor causal = ones(5, 5).tril().to(ScalarType.Bool);
        Tensor scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(8);
        Tensor expected = softmax(scores.masked_fill(causal.logical_not(), double.NegativeInfinity), -1).matmul(v);

        Tensor actual = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);

        Assert.IsTrue(actual.allclose(expected, rtol: 1e-5, atol: 1e-6), "SDPA with is_causal disagrees with the explicit computation.");
    }
}
