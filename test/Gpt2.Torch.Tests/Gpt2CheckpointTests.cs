using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class Gpt2CheckpointTests : TemporaryDirectoryTest
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 60, ContextLength = 16, EmbeddingSize = 16, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    [TestMethod]
    public void SaveThenLoadIsLossless()
    {
        foreach (Gpt2Config config in new[] { Tiny, Tiny with { TieWordEmbeddings = false, QkvBias = false } })
        {
            using var model = new Gpt2Model(config, CPU);
            string folder = Path.Combine(Directory, config.TieWordEmbeddings ? "tied" : "untied");
            Gpt2Checkpoint.Save(model, folder);
            using var loaded = Gpt2Checkpoint.Load(folder, CPU);
            Assert.AreEqual(config, loaded.Config);
            foreach ((string name, Tensor value) in model.state_dict())
                Assert.IsTrue(value.equal(loaded.state_dict()[name]).all().item<bool>(), name);
            Assert.IsTrue(File.Exists(Path.Combine(folder, "vocab.json")) && File.Exists(Path.Combine(folder, "merges.txt")));
        }
    }

    [TestMethod]
    public void SavedFilesUseHuggingFacesConv1DLayout()
    {
        using var model = new Gpt2Model(Tiny, CPU);
        Gpt2Checkpoint.Save(model, Directory);
        using var file = SafetensorsFile.Open(Path.Combine(Directory, Gpt2Checkpoint.WeightsFileName));
        CollectionAssert.AreEqual(new long[] { 16, 48 }, file.Tensors["h.0.attn.c_attn.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 64, 16 }, file.Tensors["h.1.mlp.c_proj.weight"].Shape);
        Assert.IsFalse(file.Tensors.ContainsKey("lm_head.weight"));
    }

    [TestMethod]
    public void PrefixedNamesMaskBuffersAndATiedHeadAreAccepted()
    {
        // The layout of Hugging Face's GPT2LMHeadModel exports: transformer.* names, mask buffers, lm_head.weight.
        using var file = SafetensorsFile.Open(Path.Combine(TestPaths.TinyGpt2, Gpt2Checkpoint.WeightsFileName));
        var tensors = file.Tensors.Keys.Select(name => ("transformer." + name, file.ReadTensor(name))).ToList();
        tensors.Add(("transformer.h.0.attn.masked_bias", tensor(-1e4f)));
        tensors.Add(("lm_head.weight", file.ReadTensor("wte.weight")));
        string path = Path.Combine(Directory, "exported.safetensors");
        SafetensorsWriter.Write(path, tensors);

        using var reference = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        using var model = new Gpt2Model((Gpt2Config)reference.Config, CPU);
        Gpt2Checkpoint.LoadWeights(model, path);
        foreach ((string name, Tensor value) in reference.state_dict())
            Assert.IsTrue(value.equal(model.state_dict()[name]).all().item<bool>(), name);
    }

    [TestMethod]
    public void ACheckpointOfAnotherSizeIsRejectedWithTheTensorNamed()
    {
        using var model = new Gpt2Model(Tiny with { EmbeddingSize = 32 }, CPU);
        var error = Assert.ThrowsExactly<CheckpointFormatException>(() =>
            Gpt2Checkpoint.LoadWeights(model, Path.Combine(TestPaths.TinyGpt2, Gpt2Checkpoint.WeightsFileName)));
        StringAssert.Contains(error.Message, "wte.weight");
        StringAssert.Contains(error.Message, "another size");
    }

    [TestMethod]
    public void ACheckpointWithMoreLayersOrMissingTensorsIsRejected()
    {
        using var reference = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        using var shallower = new Gpt2Model((Gpt2Config)reference.Config with { LayerCount = 1 }, CPU);
        StringAssert.Contains(Assert.ThrowsExactly<CheckpointFormatException>(() =>
            Gpt2Checkpoint.LoadWeights(shallower, Path.Combine(TestPaths.TinyGpt2, Gpt2Checkpoint.WeightsFileName))).Message, "h.1.");

        using var file = SafetensorsFile.Open(Path.Combine(TestPaths.TinyGpt2, Gpt2Checkpoint.WeightsFileName));
        string partial = Path.Combine(Directory, "partial.safetensors");
        SafetensorsWriter.Write(partial, [.. file.Tensors.Keys.Where(n => n != "ln_f.bias").Select(n => (n, file.ReadTensor(n)))]);
        StringAssert.Contains(Assert.ThrowsExactly<CheckpointFormatException>(() =>
            Gpt2Checkpoint.LoadWeights(reference, partial)).Message, "missing tensors: ln_f.bias");
    }

    [TestMethod]
    public void AFolderWithoutWeightsIsRejected()
    {
        File.WriteAllText(Path.Combine(Directory, "config.json"), Tiny.ToJson());
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => Gpt2Checkpoint.Load(Directory, CPU)).Message, "model.safetensors");
    }
}
