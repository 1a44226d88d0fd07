using System.Text.Json.Nodes;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// HuggingFaceCheckpoint with the Llama family: stored precisions loaded exactly, shards, save and load round trips in
/// both layouts, and the refusal, by name, of weights that do not match the config.
/// </summary>
[TestClass]
public sealed class LlamaCheckpointTests : TemporaryDirectoryTest
{
    private static void AssertSameWeights(CausalLanguageModel expected, CausalLanguageModel actual)
    {
        Dictionary<string, Tensor> want = expected.state_dict(), got = actual.state_dict();
        CollectionAssert.AreEquivalent(want.Keys.ToArray(), got.Keys.ToArray());
        foreach ((string name, Tensor tensor) in want)
        {
            Assert.AreEqual(tensor.dtype, got[name].dtype, name);
            Assert.IsTrue(tensor.shape.SequenceEqual(got[name].shape) && tensor.eq(got[name]).all().item<bool>(), $"{name} differs");
        }
    }

    // Every tensor of the files, as stored, against the loaded parameter: catches a lossy conversion (bfloat16 and
    // float16 widen to float32 exactly), a tensor copied into the wrong parameter, a shard skipped.
    [TestMethod]
    [DataRow("tiny-qwen2", Precision.Float32)]    // stored in bfloat16
    [DataRow("tiny-qwen3", Precision.Float32)]    // stored in float16, two shards
    [DataRow("tiny-qwen2", Precision.BFloat16)]   // bfloat16 into bfloat16: the stored bits
    public void StoredWeightsLoadExactly(string name, Precision precision)
    {
        using var scope = NewDisposeScope();
        using var model = LlamaFixture.Load(name, precision);
        Dictionary<string, Tensor> parameters = model.state_dict();
        var seen = new HashSet<string>();
        foreach (string file in System.IO.Directory.GetFiles(LlamaFixture.Folder(name), "model*.safetensors"))
        {
            using var weights = SafetensorsFile.Open(file);
            foreach (string tensor in weights.Tensors.Keys)
            {
                Tensor stored = weights.ReadTensor(tensor);
                Assert.AreNotEqual(ScalarType.Float32, stored.dtype, "the fixture stores half-width weights");
                Tensor loaded = parameters[tensor];
                Assert.AreEqual(precision == Precision.Float32 ? ScalarType.Float32 : ScalarType.BFloat16, loaded.dtype);
                Assert.IsTrue(stored.shape.SequenceEqual(loaded.shape) && stored.to(loaded.dtype).eq(loaded).all().item<bool>(), $"{tensor} differs from the stored values");
                seen.Add(tensor);
            }
        }
        CollectionAssert.AreEquivalent(parameters.Keys.ToArray(), seen.ToArray(), "every parameter comes from the files");
    }

    // Catches a save that drops or renames a tensor, changes its precision or bits, or loses a config field.
    [TestMethod]
    [DataRow("tiny-llama", Precision.Float32)]
    [DataRow("tiny-qwen2", Precision.BFloat16)]
    [DataRow("tiny-qwen3", Precision.Float32)]
    [DataRow("tiny-llama3", Precision.Float32)]
    public void SaveThenLoadGivesTheSameModel(string name, Precision precision)
    {
        using var model = LlamaFixture.Load(name, precision);

        HuggingFaceCheckpoint.Save(model, Directory);

        Assert.IsTrue(File.Exists(Path.Combine(Directory, "model.safetensors")));
        Assert.IsFalse(File.Exists(Path.Combine(Directory, "model.safetensors.index.json")), "a small model is one file");
        using var loaded = (LlamaModel)HuggingFaceCheckpoint.Load(Directory, CPU, precision);
        Assert.AreEqual(model.Config, loaded.Config);
        AssertSameWeights(model, loaded);
        using var file = SafetensorsFile.Open(Path.Combine(Directory, "model.safetensors"));
        Assert.AreEqual(model.Config.TieWordEmbeddings, !file.Tensors.ContainsKey("lm_head.weight"), "a tied head is not written, as Hugging Face does");
    }

    // Catches shards that lose or duplicate tensors, an index that names the wrong shard, a total size that does not add
    // up, and files of the earlier layout left behind to be read instead of the new ones.
    [TestMethod]
    public void ShardedSaveRoundTripsAndReplacesTheOtherLayout()
    {
        using var model = LlamaFixture.Load("tiny-qwen3");
        long totalBytes = model.state_dict().Values.Sum(t => t.numel() * t.ElementSize);
        HuggingFaceCheckpoint.Save(model, Directory);    // one file first

        HuggingFaceCheckpoint.Save(model, Directory, maxShardBytes: 20_000);

        string[] shards = [.. System.IO.Directory.GetFiles(Directory, "model-*.safetensors").Select(Path.GetFileName).Order()!];
        Assert.IsTrue(shards.Length >= 3, $"{shards.Length} shards");
        Assert.AreEqual($"model-00001-of-{shards.Length:D5}.safetensors", shards[0]);
        Assert.IsFalse(File.Exists(Path.Combine(Directory, "model.safetensors")), "the single file of the earlier save is gone");
        var index = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Directory, "model.safetensors.index.json")))!;
        Assert.AreEqual(totalBytes, (long)index["metadata"]!["total_size"]!);
        var weightMap = (JsonObject)index["weight_map"]!;
        CollectionAssert.AreEquivalent(model.state_dict().Keys.ToArray(), weightMap.Select(entry => entry.Key).ToArray());
        foreach (string shard in shards)
        {
            using var file = SafetensorsFile.Open(Path.Combine(Directory, shard));
            Assert.IsTrue(file.Tensors.Values.Sum(t => t.ByteCount) <= 20_000 || file.Tensors.Count == 1, $"{shard} is over the limit");
            CollectionAssert.AreEquivalent(weightMap.Where(entry => (string)entry.Value! == shard).Select(entry => entry.Key).ToArray(), file.Tensors.Keys.ToArray());
        }
        using (var loaded = HuggingFaceCheckpoint.Load(Directory, CPU))
            AssertSameWeights(model, loaded);

        HuggingFaceCheckpoint.Save(model, Directory);    // back to one file

        Assert.AreEqual(0, System.IO.Directory.GetFiles(Directory, "model-*.safetensors").Length, "the shards of the earlier save are gone");
        Assert.IsFalse(File.Exists(Path.Combine(Directory, "model.safetensors.index.json")));
        using (var loaded = HuggingFaceCheckpoint.Load(Directory, CPU))
            AssertSameWeights(model, loaded);
    }

    // The weights alone into an existing model (what a trainer's resume needs): catches a copy that skips the
    // conversion to the model's precision or a shard.
    [TestMethod]
    public void WeightsLoadIntoAnExistingModel()
    {
        using var reference = LlamaFixture.Load("tiny-qwen3", Precision.BFloat16);
        using var model = new LlamaModel((LlamaConfig)reference.Config, CPU);
        model.ToPrecision(Precision.BFloat16);

        HuggingFaceCheckpoint.LoadWeights(model, LlamaFixture.Folder("tiny-qwen3"));

        AssertSameWeights(reference, model);
    }

    // The product's model sources load folders through LanguageModelConfig.LoadCheckpointFolder (config.json picks the
    // family); a trainer's checkpoints go through SaveCheckpoint and LoadCheckpointWeights: both reach this loader.
    [TestMethod]
    public void TheFamilySeamLoadsAndSavesThroughTheSameCheckpoints()
    {
        using var model = LlamaFixture.Load("tiny-qwen3");
        using (var viaSeam = LanguageModelConfig.LoadCheckpointFolder(LlamaFixture.Folder("tiny-qwen3"), CPU))
        {
            Assert.IsInstanceOfType<LlamaModel>(viaSeam);
            AssertSameWeights(model, viaSeam);
        }

        model.SaveCheckpoint(Directory);
        using var other = new LlamaModel((LlamaConfig)model.Config, CPU);
        other.LoadCheckpointWeights(Directory);

        AssertSameWeights(model, other);
    }

    [TestMethod]
    public void UnmergedAdaptersAreNotSaved()
    {
        using var model = LlamaFixture.Load("tiny-llama");
        model.AddLoRA(new LoRAOptions { Rank = 2 });
        var error = Assert.ThrowsExactly<ArgumentException>(() => HuggingFaceCheckpoint.Save(model, Directory));
        StringAssert.Contains(error.Message, "MergeLoRA");
        Assert.AreEqual(0, System.IO.Directory.GetFiles(Directory).Length);
    }

    [TestMethod]
    public void Gpt2FoldersLoadThroughTheSameEntryPoint()
    {
        using var model = HuggingFaceCheckpoint.Load(TestPaths.TinyGpt2, CPU, Precision.BFloat16);
        Assert.IsInstanceOfType<Gpt2Model>(model);
        Assert.AreEqual(Precision.BFloat16, model.Precision);
    }

    // A copy of tiny-llama (float32, tied) whose weights file is rewritten by edit.
    private string BrokenCopy(Action<Dictionary<string, Tensor>> edit, Action<JsonObject>? editConfig = null)
    {
        string folder = Path.Combine(Directory, "broken");
        System.IO.Directory.CreateDirectory(folder);
        var config = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(LlamaFixture.Folder("tiny-llama"), "config.json")))!;
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        using var scope = NewDisposeScope();
        using var file = SafetensorsFile.Open(Path.Combine(LlamaFixture.Folder("tiny-llama"), "model.safetensors"));
        var tensors = file.Tensors.Keys.ToDictionary(name => name, file.ReadTensor);
        edit(tensors);
        SafetensorsWriter.Write(Path.Combine(folder, "model.safetensors"), [.. tensors.Select(entry => (entry.Key, entry.Value))]);
        return folder;
    }

    private static string LoadError(string folder) =>
        Assert.ThrowsExactly<CheckpointFormatException>(() => HuggingFaceCheckpoint.Load(folder, CPU).Dispose()).Message;

    [TestMethod]
    public void AnUnknownTensorIsRefusedByName() =>
        StringAssert.Contains(LoadError(BrokenCopy(t => t["model.layers.0.mlp.extra_proj.weight"] = zeros(4, 4))), "model.layers.0.mlp.extra_proj.weight");

    [TestMethod]
    public void AMissingTensorIsRefusedByName() =>
        StringAssert.Contains(LoadError(BrokenCopy(t => t.Remove("model.layers.1.post_attention_layernorm.weight"))), "model.layers.1.post_attention_layernorm.weight");

    [TestMethod]
    public void ATensorOfTheWrongShapeIsRefusedByName()
    {
        string message = LoadError(BrokenCopy(t => t["model.layers.0.self_attn.k_proj.weight"] = zeros(64, 64)));
        StringAssert.Contains(message, "model.layers.0.self_attn.k_proj.weight");
        StringAssert.Contains(message, "[32, 64]");
    }

    [TestMethod]
    public void IntegerWeightsAreRefused() =>
        StringAssert.Contains(LoadError(BrokenCopy(t => t["model.norm.weight"] = ones(64, int8))), "model.norm.weight");

    // Hugging Face ignores a tied model's lm_head.weight; here a copy of the embedding is accepted and a different head
    // refused, since the config and the file then disagree about the model.
    [TestMethod]
    public void ATiedModelsHeadMustBeTheEmbedding()
    {
        string copy = BrokenCopy(t => t["lm_head.weight"] = t["model.embed_tokens.weight"].clone());
        using (var model = LlamaFixture.Load("tiny-llama"))
        using (var loaded = HuggingFaceCheckpoint.Load(copy, CPU))
            AssertSameWeights(model, loaded);
        System.IO.Directory.Delete(copy, recursive: true);

        string message = LoadError(BrokenCopy(t => t["lm_head.weight"] = t["model.embed_tokens.weight"] + 1));
        StringAssert.Contains(message, "tie_word_embeddings");
        StringAssert.Contains(message, "lm_head.weight");
    }

    [TestMethod]
    public void RotaryBuffersOfOlderCheckpointsAreSkipped()
    {
        string copy = BrokenCopy(t => t["model.layers.0.self_attn.rotary_emb.inv_freq"] = ones(8));
        using var model = LlamaFixture.Load("tiny-llama");
        using var loaded = HuggingFaceCheckpoint.Load(copy, CPU);
        AssertSameWeights(model, loaded);
    }

    // Catches a config that asks for far more memory than its weights hold (a config of another checkpoint, or one
    // written to exhaust memory) being allocated before the weights are read.
    [TestMethod]
    public void AConfigLargerThanItsWeightsIsRefusedBeforeAllocation()
    {
        string message = LoadError(BrokenCopy(_ => { }, config => config["num_hidden_layers"] = 100000));
        StringAssert.Contains(message, "another checkpoint");
    }

    [TestMethod]
    public void AConfigThatAsksForAnotherComputationIsRefusedByName()
    {
        string message = LoadError(BrokenCopy(_ => { }, config => config["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 }));
        StringAssert.Contains(message, "rope_scaling");
        StringAssert.Contains(message, "yarn");
    }

    // Catches an index trusted without checking its shards: a tensor the index places in another shard is refused.
    [TestMethod]
    public void AnIndexThatDisagreesWithItsShardsIsRefused()
    {
        string folder = Path.Combine(Directory, "sharded");
        System.IO.Directory.CreateDirectory(folder);
        foreach (string file in System.IO.Directory.GetFiles(LlamaFixture.Folder("tiny-qwen3")))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        string indexPath = Path.Combine(folder, "model.safetensors.index.json");
        var index = (JsonObject)JsonNode.Parse(File.ReadAllText(indexPath))!;
        var weightMap = (JsonObject)index["weight_map"]!;
        Assert.AreEqual("model-00002-of-00002.safetensors", (string)weightMap["lm_head.weight"]!);
        weightMap["lm_head.weight"] = "model-00001-of-00002.safetensors";
        File.WriteAllText(indexPath, index.ToJsonString());
        StringAssert.Contains(LoadError(folder), "lm_head.weight");

        weightMap.Remove("lm_head.weight");
        weightMap["model.norm.weight"] = "../model.safetensors";
        File.WriteAllText(indexPath, index.ToJsonString());
        StringAssert.Contains(LoadError(folder), "model.norm.weight");
    }
}
