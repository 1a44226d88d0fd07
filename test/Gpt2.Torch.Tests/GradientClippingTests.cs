using Gpt2.Torch.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class GradientClippingTests
{
    private static Parameter[] WithGradients(params float[][] gradients) =>
    [
        .. gradients.Select(g =>
        {
            var parameter = new Parameter(zeros(g.Length));
            parameter.grad = tensor(g);
            return parameter;
        }),
    ];

    [TestMethod]
    public void TheGlobalNormIsScaledDownToTheBound()
    {
        // [3, 4] and [12] form one vector of norm sqrt(9 + 16 + 144) = 13.
        Parameter[] parameters = WithGradients([3, 4], [12]);
        double norm = GradientClipping.ClipGlobalNorm(parameters, 6.5);
        Assert.AreEqual(13.0, norm, 1e-5);
        CollectionAssert.AreEqual(new[] { 1.5f, 2f }, parameters[0].grad!.data<float>().ToArray(), new FloatTolerance(1e-5f));
        CollectionAssert.AreEqual(new[] { 6f }, parameters[1].grad!.data<float>().ToArray(), new FloatTolerance(1e-5f));
    }

    [TestMethod]
    public void GradientsWithinTheBoundAreLeftAlone()
    {
        Parameter[] parameters = WithGradients([3, 4], [12]);
        Assert.AreEqual(13.0, GradientClipping.ClipGlobalNorm(parameters, 20), 1e-5);
        CollectionAssert.AreEqual(new[] { 3f, 4f }, parameters[0].grad!.data<float>().ToArray());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => GradientClipping.ClipGlobalNorm(parameters, 0));
    }

    private sealed class FloatTolerance(float tolerance) : System.Collections.IComparer
    {
        public int Compare(object? x, object? y) => Math.Abs((float)x! - (float)y!) <= tolerance ? 0 : 1;
    }
}
