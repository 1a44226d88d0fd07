using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using AdamW = Gpt2.Torch.Training.AdamW;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class AdamWTests
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 50, ContextLength = 8, EmbeddingSize = 16, HeadCount = 2, LayerCount = 1, Dropout = 0 };

    [TestMethod]
    public void MatchesTorchSharpsAdamWWithTheSameParameterGroups()
    {
        random.manual_seed(3);
        using var ours = new Gpt2Model(Tiny, CPU);
        using var reference = new Gpt2Model(Tiny, CPU);
        reference.load_state_dict(ours.state_dict());

        using var optimizer = new AdamW(ours.named_parameters(), learningRate: 0.01, weightDecay: 0.1);
        var decayed = ours.named_parameters().Where(p => p.parameter.dim() >= 2).Select(p => p.name).ToHashSet();
        CollectionAssert.AreEquivalent(decayed.ToArray(), optimizer.DecayedParameterNames.ToArray());
        using var oracle = optim.AdamW([
            new TorchSharp.Modules.AdamW.ParamGroup(reference.named_parameters().Where(p => decayed.Contains(p.name)).Select(p => p.parameter), lr: 0.01, weight_decay: 0.1),
            new TorchSharp.Modules.AdamW.ParamGroup(reference.named_parameters().Where(p => !decayed.Contains(p.name)).Select(p => p.parameter), lr: 0.01, weight_decay: 0.0),
        ]);

        for (int step = 0; step < 5; step++)
        {
            using var scope = NewDisposeScope();
            Tensor tokens = randint(0, Tiny.VocabSize, [2, 8], dtype: int64);
            optimizer.ZeroGrad();
            ours.Forward(tokens).square().mean().backward();
            optimizer.Step();
            oracle.zero_grad();
            reference.Forward(tokens).square().mean().backward();
            oracle.step();
        }

        foreach ((string name, Tensor value) in ours.state_dict())
            Assert.IsTrue(value.allclose(reference.state_dict()[name], rtol: 1e-5, atol: 1e-6), $"{name} differs from TorchSharp's AdamW by up to {(value - reference.state_dict()[name]).abs().max().item<float>()}.");
        Assert.AreEqual(5L, optimizer.StepCount);
    }

    [TestMethod]
    public void UpdatesAParameterLargerThanOneChunkAsTorchSharpsAdamWDoes()
    {
        // The CPU update goes chunk by chunk through a large parameter: every chunk, the last partial one included, must
        // be updated in the parameter itself, with its own slice of the gradient and moments.
        long rows = 2 * AdamW.CpuChunkElements / 301 + 7;
        random.manual_seed(5);
        using var ours = new Parameter(randn(rows, 301));
        using var reference = new Parameter(ours.detach().clone());
        Assert.IsTrue(ours.numel() > 2 * AdamW.CpuChunkElements && ours.numel() % AdamW.CpuChunkElements != 0);
        using var optimizer = new AdamW([("weight", ours)], learningRate: 0.01, weightDecay: 0.1);
        using var oracle = optim.AdamW([reference], lr: 0.01, weight_decay: 0.1);
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            Tensor gradient = randn(rows, 301);
            ours.grad = gradient.clone();
            reference.grad = gradient.clone();
            optimizer.Step();
            oracle.step();
        }
        Assert.IsTrue(ours.allclose(reference, rtol: 1e-5, atol: 1e-6), $"Differs from TorchSharp's AdamW by up to {(ours - reference).abs().max().item<float>()}.");
    }

    [TestMethod]
    public void FrozenParametersAreNeitherOptimizedNorGivenState()
    {
        using var model = new Gpt2Model(Tiny, CPU);
        foreach (Parameter parameter in model.parameters())
            parameter.requires_grad = false;
        using var optimizer = new AdamW(model.named_parameters());
        Assert.AreEqual(0, optimizer.StateTensors().Count());
    }
}
