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
    private static Gpt2Model _model = null!;
    private static SafetensorsFile _expected = null!;

    [ClassInitialize]
    public static void LoadFixture(TestContext _)
    {
        _model = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        _model.eval();
        _expected = SafetensorsFile.Open(Path.Combine(TestPaths.TinyGpt2, "expected.safetensors"));
    }

    [ClassCleanup]
    public static void Release()
    {
        _model.Dispose();
        _expected.Dispose();
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    [DataRow(2)]
    public void LogitsMatchTheReference(int k)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor ids = _expected.ReadTensor($"input_ids.{k}");
        Tensor expected = _expected.ReadTensor($"logits.{k}");
        Tensor logits = _model.Forward(ids.unsqueeze(0)).squeeze(0);
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
        Tensor ids = _expected.ReadTensor($"input_ids.{k}");
        float expected = _expected.ReadTensor($"loss.{k}").item<float>();
        long length = ids.shape[0];
        Tensor logits = _model.Forward(ids.narrow(0, 0, length - 1).unsqueeze(0)).squeeze(0);
        float loss = nn.functional.cross_entropy(logits, ids.narrow(0, 1, length - 1)).item<float>();
        Assert.AreEqual(expected, loss, 1e-4, $"loss.{k}");
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void GreedyDecodingReproducesTheReferenceContinuation(bool useCache)
    {
        int[] prompt = [.. _expected.ReadTensor("greedy.prompt").data<long>().ToArray().Select(id => (int)id)];
        long[] expected = _expected.ReadTensor("greedy.output").data<long>().ToArray();
        var options = new GenerationOptions { MaxNewTokens = 32 - prompt.Length, UseCache = useCache };
        int[] output = new Gpt2Generator(_model).Generate(prompt, options);
        CollectionAssert.AreEqual(expected.Select(id => (int)id).ToArray(), output);
    }
}
