using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Onnx;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class LoRATests
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 100, ContextLength = 32, EmbeddingSize = 16, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    private static Gpt2Model NewModel(Gpt2Config? config = null)
    {
        random.manual_seed(7);
        return new Gpt2Model(config ?? Tiny, CPU);
    }

    private static Dictionary<string, float[]> Snapshot(nn.Module module) =>
        module.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());

    // rank x (in + out) per adapted layer of the tiny config: c_attn 16 -> 48, attn.c_proj 16 -> 16, c_fc 16 -> 64, mlp.c_proj 64 -> 16.
    private static long AdapterParameters(int rank, int layers, LoRATargets targets) => rank * layers * (
        (targets.HasFlag(LoRATargets.QueryKeyValue) ? 16 + 48 : 0) + (targets.HasFlag(LoRATargets.AttentionOutput) ? 16 + 16 : 0) +
        (targets.HasFlag(LoRATargets.MlpInput) ? 16 + 64 : 0) + (targets.HasFlag(LoRATargets.MlpOutput) ? 64 + 16 : 0));

    [TestMethod]
    public void AdaptersAreTheBooksLoRALayersAndOnlyTheyTrain()
    {
        using var model = NewModel();
        model.AddLoRA(new LoRAOptions { Rank = 4, Alpha = 2, Targets = LoRATargets.QueryKeyValue | LoRATargets.MlpOutput });

        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        CollectionAssert.AreEqual(new long[] { 16, 4 }, parameters["h.0.attn.c_attn.lora.A"].shape);
        CollectionAssert.AreEqual(new long[] { 4, 48 }, parameters["h.0.attn.c_attn.lora.B"].shape);
        CollectionAssert.AreEqual(new long[] { 64, 4 }, parameters["h.1.mlp.c_proj.lora.A"].shape);
        Assert.IsFalse(parameters.ContainsKey("h.0.attn.c_proj.lora.A"), "untargeted layers stay plain");
        Assert.IsTrue(parameters.ContainsKey("h.0.attn.c_attn.weight"), "base weights keep their checkpoint names");

        // kaiming_uniform_(a = sqrt 5) on [in, rank] draws from U(-1/sqrt(rank), 1/sqrt(rank)); B starts at zero.
        float bound = 1 / MathF.Sqrt(4);
        float[] a = parameters["h.1.mlp.c_proj.lora.A"].data<float>().ToArray();
        Assert.IsTrue(a.All(v => MathF.Abs(v) <= bound) && a.Max() > 0.9 * bound && a.Min() < -0.9 * bound, $"A spans [{a.Min()}, {a.Max()}]");
        Assert.IsTrue(parameters["h.1.mlp.c_proj.lora.B"].data<float>().ToArray().All(v => v == 0));

        string[] trainable = [.. parameters.Where(p => p.Value.requires_grad).Select(p => p.Key)];
        Assert.AreEqual(8, trainable.Length);
        Assert.IsTrue(trainable.All(name => name.Contains(".lora.")), string.Join(", ", trainable));
        Assert.AreEqual(AdapterParameters(4, 2, LoRATargets.QueryKeyValue | LoRATargets.MlpOutput), model.TrainableParameterCount);
    }

    [TestMethod]
    public void TheAdapterAddsAlphaTimesXAB()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = NewModel(Tiny with { LayerCount = 1 });
        Tensor ids = tensor(new long[] { 3, 14, 15, 92, 65 }, int64).unsqueeze(0);
        Tensor plain = model.forward(ids);
        model.AddLoRA(new LoRAOptions { Rank = 2, Alpha = 0.5, Targets = LoRATargets.MlpOutput });
        Assert.IsTrue(model.forward(ids).allclose(plain, rtol: 0, atol: 0), "a new adapter (B = 0) changes nothing");

        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Parameter a = parameters["h.0.mlp.c_proj.lora.A"], b = parameters["h.0.mlp.c_proj.lora.B"];
        b.copy_(randn(b.shape));
        // The oracle: the same layer by hand, weight and adapter applied separately (the book's LinearWithLoRA.forward).
        Tensor hidden = randn(1, 5, 64);
        Tensor expected = hidden.matmul(parameters["h.0.mlp.c_proj.weight"].t()) + parameters["h.0.mlp.c_proj.bias"] + 0.5 * hidden.matmul(a).matmul(b);
        model.MergeLoRA();
        Tensor merged = hidden.matmul(model.named_parameters().Single(p => p.name == "h.0.mlp.c_proj.weight").parameter.t()) + parameters["h.0.mlp.c_proj.bias"];
        Assert.IsTrue(merged.allclose(expected, rtol: 0, atol: 1e-5), $"largest difference {(merged - expected).abs().max().item<float>()}");
    }

    [TestMethod]
    public void MergingGivesTheSameOutputsWithGpt2sParametersOnly()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = NewModel();
        string[] plainNames = [.. model.state_dict().Keys];
        model.AddLoRA(new LoRAOptions { Rank = 3, Alpha = 8 });
        foreach ((string name, Parameter parameter) in model.named_parameters().Where(p => p.name.EndsWith(".lora.B")))
            parameter.copy_(randn(parameter.shape) * 0.05);
        Tensor ids = tensor(new long[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49 }, int64).view(2, 10);
        Tensor adapted = model.forward(ids);
        Tensor plainBefore = NewModel().forward(ids);
        Assert.IsGreaterThan(1e-2f, (adapted - plainBefore).abs().max().item<float>(), "the non-zero adapters change the outputs");
        string onnx = Path.Combine(Path.GetTempPath(), $"lora-{Guid.NewGuid():N}.onnx");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Gpt2OnnxExporter.Export(model, onnx)).Message, "MergeLoRA");
        Assert.ThrowsExactly<ArgumentException>(() => Gpt2OnnxExporter.ExportGenerator(model, onnx, 4));
        string checkpoint = Path.Combine(Path.GetTempPath(), $"lora-{Guid.NewGuid():N}");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Gpt2Checkpoint.Save(model, checkpoint)).Message, "MergeLoRA");
        Assert.IsFalse(File.Exists(onnx) || Directory.Exists(checkpoint), "nothing is written for an unmerged model");

        model.MergeLoRA();

        Tensor merged = model.forward(ids);
        Assert.IsTrue(merged.allclose(adapted, rtol: 0, atol: 1e-5), $"largest difference {(merged - adapted).abs().max().item<float>()}");
        CollectionAssert.AreEqual(plainNames, model.state_dict().Keys.ToArray());
        Assert.IsNull(model.LoRA);
        Assert.AreEqual(NewModel().ParameterCount, model.ParameterCount);
    }

    [TestMethod]
    public void TheBooks124MCountLessWhatTheFusedQueryKeyValueAndTheWholeHeadSave()
    {
        using var classifier = new Gpt2SequenceClassifier(new Gpt2Model(Gpt2Config.Gpt2Small, CPU), classCount: 2);
        classifier.SetTrainableLayers(TrainableLayers.LoRA, new LoRAOptions { Rank = 16, Alpha = 16 });
        // The book's appendix E: 2,666,528 trainable parameters, with separate 768 x 768 query, key and value layers
        // (3 x 16 x (768 + 768) against our fused 16 x (768 + 2304): 24,576 more per block) and an adapter on its
        // 768 -> 2 head (16 x 770 = 12,320) where ours trains whole (768 x 2 + 2 = 1,538).
        const long book = 2_666_528;
        Assert.AreEqual(book - 12 * 24_576 - 12_320 + 1_538, classifier.TrainableParameterCount);
    }

    [TestMethod]
    public void AddingOtherAdaptersNeedsAMergeFirstAndBadOptionsAreRefused()
    {
        using var model = NewModel();
        var options = new LoRAOptions { Rank = 2 };
        model.AddLoRA(options);
        model.AddLoRA(options with { });
        Assert.AreEqual(options, model.LoRA);
        var error = Assert.ThrowsExactly<InvalidOperationException>(() => model.AddLoRA(options with { Rank = 4 }));
        StringAssert.Contains(error.Message, "MergeLoRA");
        model.MergeLoRA();
        model.AddLoRA(options with { Rank = 4 });

        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LoRAOptions { Rank = 0 }.Validate());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LoRAOptions { Alpha = double.NaN }.Validate());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LoRAOptions { Targets = LoRATargets.None }.Validate());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SequenceClassificationOptions { LoRA = new LoRAOptions { Rank = -1 } }.Validate());
    }

    [TestMethod]
    public void ClassifierLoRATrainingLearnsAndChangesOnlyAdaptersAndHead()
    {
        random.manual_seed(5);
        using var classifier = new Gpt2SequenceClassifier(new Gpt2Model(Tiny with { LayerCount = 3 }, CPU), 2);
        Dictionary<string, float[]> before = Snapshot(classifier);
        var rng = new Random(3);
        List<ClassificationExample> Examples(int count) => SeparableTokenTask.Examples(rng, count);
        List<ClassificationExample> train = Examples(80), test = Examples(40);
        using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions
        {
            LearningRate = 3e-3, Epochs = 10, EvaluationInterval = 0, LoRA = new LoRAOptions { Rank = 8, Alpha = 1 },
        });
        double initialLoss = trainer.Evaluate(test).Loss;
        trainer.Train(train);

        Assert.AreEqual(AdapterParameters(8, 3, LoRATargets.All) + 16 * 2 + 2, classifier.TrainableParameterCount);
        // A random width-16 body learns this only partly through rank-8 adapters (0.875 measured; full fine-tuning reaches 0.9 and more).
        (double loss, double accuracy) = trainer.Evaluate(test);
        Assert.IsGreaterThanOrEqualTo(0.75, accuracy);
        Assert.IsLessThan(0.8 * initialLoss, loss, $"loss from {initialLoss}");
        Dictionary<string, float[]> after = Snapshot(classifier);
        foreach ((string name, float[] values) in before)
        {
            bool changed = !values.SequenceEqual(after[name]);
            Assert.AreEqual(name.StartsWith("score."), changed, $"{name} {(changed ? "changed" : "stayed")}");
        }
        string[] adapters = [.. after.Keys.Except(before.Keys)];
        Assert.AreEqual(3 * 4 * 2, adapters.Length);
        Assert.IsTrue(adapters.All(name => name.Contains(".lora.")), string.Join(", ", adapters));
        Assert.IsTrue(adapters.Where(name => name.EndsWith(".B")).All(name => after[name].Any(v => v != 0)), "every B moved from zero");
    }

    [TestMethod]
    public void InstructionLoRATrainingLowersTheLossAndChangesOnlyTheAdapters()
    {
        using var model = NewModel();
        Dictionary<string, float[]> before = Snapshot(model);
        InstructionSequence[] rows = [new([5, 6, 7, 8, 9, 10], 3), new([11, 12, 13, 14], 2)];
        using var trainer = new InstructionTrainer(model, new InstructionTuningOptions
        {
            BatchSize = 2, Epochs = 20, LearningRate = 1e-2, EndOfTextId = 99, LoRA = new LoRAOptions { Rank = 8, Alpha = 2 },
        });
        double initial = trainer.Evaluate(rows);
        trainer.Train(rows);

        // The frozen tied output head (random, N(0, 0.02)) caps how far a tiny random model's loss can fall; it must fall.
        Assert.IsLessThan(initial - 0.1, trainer.Evaluate(rows), $"loss from {initial}");
        Dictionary<string, float[]> after = Snapshot(model);
        foreach ((string name, float[] values) in before)
            CollectionAssert.AreEqual(values, after[name], name);
        CollectionAssert.AreEquivalent(new[] { "h.0.mlp.c_fc.lora.A", "h.0.mlp.c_fc.lora.B", "h.1.mlp.c_fc.lora.A", "h.1.mlp.c_fc.lora.B", "h.0.attn.c_attn.lora.A", "h.0.attn.c_attn.lora.B", "h.1.attn.c_attn.lora.A", "h.1.attn.c_attn.lora.B", "h.0.attn.c_proj.lora.A", "h.0.attn.c_proj.lora.B", "h.1.attn.c_proj.lora.A", "h.1.attn.c_proj.lora.B", "h.0.mlp.c_proj.lora.A", "h.0.mlp.c_proj.lora.B", "h.1.mlp.c_proj.lora.A", "h.1.mlp.c_proj.lora.B" }, after.Keys.Except(before.Keys).ToArray());
    }
}
