using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Our model against fixtures/tiny-gpt2, whose expected values come from two independent reference
/// implementations (NumPy and the book's PyTorch GPTModel).
/// </summary>
[TestClass]
public sealed class ReferenceFixtureTests
{
    private static ReferenceFixture Fixture => ReferenceFixture.Shared;

    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    [DataRow(2)]
    public void LogitsMatchTheReference(int k)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor ids = Fixture.Expected.ReadTensor($"input_ids.{k}");
        Tensor expected = Fixture.Expected.ReadTensor($"logits.{k}");
        Tensor logits = Fixture.Model.Forward(ids.unsqueeze(0)).squeeze(0);
        double maxError = (logits - expected).abs().max().item<float>();
        Assert.IsTrue(maxError < 1e-4, $"logits.{k} differ by up to {maxError}.");
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    public void LossMatchesTheReference(int k)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor ids = Fixture.Expected.ReadTensor($"input_ids.{k}");
        float expected = Fixture.Expected.ReadTensor($"loss.{k}").item<float>();
        long length = ids.shape[0];
        Tensor logits = Fixture.Model.Forward(ids.narrow(0, 0, length - 1).unsqueeze(0)).squeeze(0);
        float loss = nn.functional.cross_entropy(logits, ids.narrow(0, 1, length - 1)).item<float>();
        Assert.AreEqual(expected, loss, 1e-4, $"loss.{k}");
    }

    [TestMethod]
    public void GreedyDecodingReproducesTheReferenceContinuation()
    {
        int[] prompt = Fixture.Tokens("greedy.prompt");
        long[] expected = Fixture.Expected.ReadTensor("greedy.output").data<long>().ToArray();
        var options = new GenerationOptions { MaxNewTokens = 32 - prompt.Length };
        int[] output = new Gpt2Generator(Fixture.Model).Generate(prompt, options);
        CollectionAssert.AreEqual(expected.Select(id => (int)id).ToArray(), output);
    }
}
