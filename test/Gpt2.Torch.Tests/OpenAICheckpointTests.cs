using System.IO.Compression;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// OpenAI's TensorFlow release format, against a bundle written by LevelDB and protobuf (fixtures/leveldb-bundle) and
/// checkpoints written by <see cref="TensorBundleTestWriter"/>.
/// </summary>
[TestClass]
public sealed class OpenAICheckpointTests : TemporaryDirectoryTest
{
    private const string TinyHparams = """{"n_vocab": 1000, "n_ctx": 32, "n_embd": 64, "n_head": 4, "n_layer": 2}""";

    private static List<(string Name, float[] Values, long[] Shape)> FixtureTensors()
    {
        using var file = SafetensorsFile.Open(Path.Combine(TestPaths.TinyGpt2, Gpt2Checkpoint.WeightsFileName));
        return TensorBundleTestWriter.FromHuggingFace(file);
    }

    private string Release(IEnumerable<(string Name, float[] Values, long[] Shape)> tensors, string hparams = TinyHparams)
    {
        string folder = Path.Combine(Directory, "release");
        TensorBundleTestWriter.WriteReleaseFolder(folder, tensors, hparams);
        return folder;
    }

    private static string AssertRejected(string folder, string expectedMessagePart)
    {
        var error = Assert.ThrowsExactly<CheckpointFormatException>(() => OpenAICheckpoint.Load(folder, CPU).Dispose());
        StringAssert.Contains(error.Message, expectedMessagePart);
        return error.Message;
    }

    [TestMethod]
    public void TheFixtureStoredAsATensorFlowCheckpointGivesTheReferenceLogits()
    {
        using var model = OpenAICheckpoint.Load(Release(FixtureTensors()), CPU);
        using var reference = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        Assert.AreEqual((Gpt2Config)reference.Config with { Dropout = ((Gpt2Config)model.Config).Dropout }, model.Config);
        foreach ((string name, Tensor value) in reference.state_dict())
            Assert.IsTrue(value.equal(model.state_dict()[name]).all().item<bool>(), name);

        model.eval();
        using var expected = SafetensorsFile.Open(Path.Combine(TestPaths.TinyGpt2, "expected.safetensors"));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor logits = model.Forward(expected.ReadTensor("input_ids.0").unsqueeze(0)).squeeze(0);
        double maxError = (logits - expected.ReadTensor("logits.0")).abs().max().item<float>();
        Assert.IsTrue(maxError < 1e-4, $"logits differ by up to {maxError}.");
    }

    [TestMethod]
    public void ABundleWrittenByLevelDBsTableBuilderReadsWithItsNamesShapesAndValues()
    {
        // fixtures/leveldb-bundle: the index written by LevelDB's own TableBuilder, its entries by the protobuf library,
        // its checksums by LevelDB's CRC-32C (make_bundle.cc), from tensors.txt, none of it by this repository's code.
        var tensors = LevelDbBundleTensors();
        using var bundle = TensorBundle.Open(Path.Combine(TestPaths.LevelDbBundle, OpenAICheckpoint.DefaultCheckpointName));

        CollectionAssert.AreEqual(tensors.Keys.Order(StringComparer.Ordinal).ToArray(), bundle.Tensors.Keys.ToArray(), "every tensor, in key order");
        foreach ((string name, (long[] shape, float[] values)) in tensors)
        {
            CollectionAssert.AreEqual(shape, bundle.Tensors[name].Shape, name);
            using Tensor value = bundle.ReadTensor(name);
            CollectionAssert.AreEqual(shape, value.shape, name);
            CollectionAssert.AreEqual(values, value.data<float>().ToArray(), name);
        }
    }

    [TestMethod]
    public void AReleaseFolderWrittenByLevelDBLoadsIntoTheModelsParameters()
    {
        var tensors = LevelDbBundleTensors();
        using var model = OpenAICheckpoint.Load(TestPaths.LevelDbBundle, CPU);
        Dictionary<string, Tensor> parameters = model.state_dict();

        Assert.AreEqual((5, 3, 2, 1, 1), (model.Config.VocabSize, model.Config.ContextLength, model.Config.EmbeddingSize, model.Config.HeadCount, model.Config.LayerCount));
        CollectionAssert.AreEqual(tensors["model/wte"].Values, parameters["wte.weight"].data<float>().ToArray());
        CollectionAssert.AreEqual(tensors["model/h0/ln_2/g"].Values, parameters["h.0.ln_2.weight"].data<float>().ToArray());
        // OpenAI's [1, in, out] convolution weights become [out, in] linear weights: element [i, o] moves to [o, i].
        float[] convolution = tensors["model/h0/mlp/c_fc/w"].Values;
        float[] linear = parameters["h.0.mlp.c_fc.weight"].data<float>().ToArray();
        CollectionAssert.AreEqual(new long[] { 8, 2 }, parameters["h.0.mlp.c_fc.weight"].shape);
        for (int i = 0; i < 2; i++)
            for (int o = 0; o < 8; o++)
                Assert.AreEqual(convolution[i * 8 + o], linear[o * 2 + i], $"c_fc [{i}, {o}]");
    }

    // tensors.txt: a name, a shape such as [1,2,6] and the values in row-major order on each line that is not a comment.
    private static Dictionary<string, (long[] Shape, float[] Values)> LevelDbBundleTensors() =>
        File.ReadLines(Path.Combine(TestPaths.LevelDbBundle, "tensors.txt"))
            .Where(line => line.Length > 0 && line[0] != '#')
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToDictionary(
                fields => fields[0],
                fields => (fields[1].Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray(),
                    fields[2..].Select(value => float.Parse(value, System.Globalization.CultureInfo.InvariantCulture)).ToArray()));

    [TestMethod]
    public void Crc32CMatchesTheStandardCheckValueAndTheTestsOwnImplementation()
    {
        Assert.AreEqual(0xE3069283u, Crc32C.Compute("123456789"u8));
        byte[] random = new byte[1001];
        new Random(7).NextBytes(random);
        Assert.AreEqual(TensorBundleTestWriter.Crc32C(random), Crc32C.Compute(random));
    }

    [TestMethod]
    public void VariableNamesMapOntoModelParameters()
    {
        Assert.AreEqual("wte.weight", OpenAICheckpoint.ParameterName("model/wte"));
        Assert.AreEqual("ln_f.bias", OpenAICheckpoint.ParameterName("model/ln_f/b"));
        Assert.AreEqual("h.11.attn.c_attn.weight", OpenAICheckpoint.ParameterName("model/h11/attn/c_attn/w"));
        Assert.AreEqual("h.0.ln_2.weight", OpenAICheckpoint.ParameterName("model/h0/ln_2/g"));
        Assert.AreEqual("h.3.mlp.c_proj.bias", OpenAICheckpoint.ParameterName("model/h3/mlp/c_proj/b"));
        Assert.IsNull(OpenAICheckpoint.ParameterName("model/h0/ln_1/w"));
        Assert.IsNull(OpenAICheckpoint.ParameterName("model/h0/mlp/c_fc/g"));
        Assert.IsNull(OpenAICheckpoint.ParameterName("model/h01/mlp/c_fc/w"));
        Assert.IsNull(OpenAICheckpoint.ParameterName("global_step"));
    }

    [TestMethod]
    public void BrokenCheckpointsNameTheProblem()
    {
        var tensors = FixtureTensors();
        string folder = Release(tensors);
        string index = Path.Combine(folder, "model.ckpt.index"), data = Path.Combine(folder, "model.ckpt.data-00000-of-00001");
        byte[] goodIndex = File.ReadAllBytes(index), goodData = File.ReadAllBytes(data);

        File.WriteAllBytes(index, goodIndex[..^10]);
        AssertRejected(folder, "magic number");
        File.WriteAllBytes(index, goodIndex[..40]);
        AssertRejected(folder, "truncated");
        byte[] badMagic = [.. goodIndex];
        badMagic[^1] ^= 0xFF;
        File.WriteAllBytes(index, badMagic);
        AssertRejected(folder, "not a TensorFlow checkpoint index");
        byte[] flipped = [.. goodIndex];
        flipped[20] ^= 0x01;
        File.WriteAllBytes(index, flipped);
        AssertRejected(folder, "CRC-32C");
        File.WriteAllBytes(index, goodIndex);

        File.WriteAllBytes(data, goodData[..^1]);
        AssertRejected(folder, "run past the end");
        byte[] corrupt = [.. goodData];
        corrupt[^100] ^= 0x10;
        File.WriteAllBytes(data, corrupt);
        AssertRejected(folder, "fail the CRC-32C check");

        AssertRejected(Release(tensors.Where(t => t.Name != "model/ln_f/b")), "config describes a model");
        using (var model = new Gpt2Model(OpenAICheckpoint.ReadConfig(Path.Combine(folder, "hparams.json")), CPU))
            StringAssert.Contains(Assert.ThrowsExactly<CheckpointFormatException>(() =>
                OpenAICheckpoint.LoadWeights(model, Path.Combine(folder, "model.ckpt"))).Message, "missing tensors: ln_f.bias");
        AssertRejected(Release([.. tensors, ("model/global_step", [0f], [1])]), "no place for: model/global_step");
        var longerPositions = tensors.Select(t => t.Name == "model/wpe" ? (t.Name, t.Values.Concat(t.Values).ToArray(), new long[] { 64, 64 }) : t);
        AssertRejected(Release(longerPositions), "'model/wpe' has shape [64, 64] but the model expects [32, 64]");
        AssertRejected(Release(tensors, """{"n_vocab": 1000, "n_ctx": 32, "n_embd": 6400, "n_head": 4, "n_layer": 200}"""), "config describes a model");
        AssertRejected(Release(tensors, """{"n_vocab": 1000, "n_ctx": 32}"""), "'n_embd' is missing");
    }

    [TestMethod]
    public async Task ASizeDownloadsFromOpenAIsStorageIntoTheCacheAndLoads()
    {
        string folder = Release(FixtureTensors());
        using var server = new FakeHuggingFaceServer();
        foreach (string file in OpenAIPublicStorage.ModelFiles)
        {
            string local = Path.Combine(folder, file);
            server.Add($"gpt-2/models/124M/{file}", File.Exists(local) ? File.ReadAllBytes(local) : [0x7B, 0x7D], cutFirstDownload: file.StartsWith("model.ckpt.data", StringComparison.Ordinal));
        }
        var storage = new OpenAIPublicStorage(new FileDownloader(Path.Combine(Directory, "cache"), maxAttempts: 3, retryDelay: TimeSpan.Zero), server.Endpoint);

        using var model = await OpenAICheckpoint.LoadPretrainedAsync("124m", CPU, storage);
        Assert.AreEqual(1000, model.Config.VocabSize);
        Assert.AreEqual(1, server.RangeRequests, "the cut download must resume");
        int requests = server.GetRequests;
        using var again = await OpenAICheckpoint.LoadPretrainedAsync("124M", CPU, storage);
        Assert.AreEqual(requests, server.GetRequests, "a cached release is not downloaded again");
        await Assert.ThrowsExactlyAsync<ArgumentException>(() => storage.DownloadModelAsync("125M"));
    }

    [TestMethod]
    public void PyTorchPickleCheckpointsAreRefusedWithAPointerToSafetensors()
    {
        string bare = Path.Combine(Directory, "bare.safetensors");
        File.WriteAllBytes(bare, [0x80, 0x02, 0x7D, 0x71, 0x00, 0x2E, 0x00, 0x00, 0x00, 0x00]);
        StringAssert.Contains(Assert.ThrowsExactly<CheckpointFormatException>(() => SafetensorsFile.Open(bare)).Message, "safetensors.torch.save_file");

        string zipped = Path.Combine(Directory, "zipped.safetensors");
        using (ZipArchive zip = ZipFile.Open(zipped, ZipArchiveMode.Create))
        using (Stream entry = zip.CreateEntry("archive/data.pkl").Open())
            entry.Write([0x80, 0x02, 0x7D, 0x2E]);
        StringAssert.Contains(Assert.ThrowsExactly<CheckpointFormatException>(() => SafetensorsFile.Open(zipped)).Message, "pickle");

        string folder = Path.Combine(Directory, "pytorch");
        System.IO.Directory.CreateDirectory(folder);
        File.Copy(zipped, Path.Combine(folder, "pytorch_model.bin"));
        File.Copy(Path.Combine(TestPaths.TinyGpt2, "config.json"), Path.Combine(folder, "config.json"));
        StringAssert.Contains(Assert.ThrowsExactly<CheckpointFormatException>(() => Gpt2Checkpoint.Load(folder, CPU)).Message, "can run arbitrary code");
    }

    [TestMethod]
    public void AConfigLargerThanItsWeightsIsRefusedBeforeAllocating()
    {
        string folder = Path.Combine(Directory, "lying");
        System.IO.Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(TestPaths.TinyGpt2, Gpt2Checkpoint.WeightsFileName), Path.Combine(folder, Gpt2Checkpoint.WeightsFileName));
        File.WriteAllText(Path.Combine(folder, Gpt2Checkpoint.ConfigFileName), """{"model_type": "gpt2", "vocab_size": 2000000000, "n_embd": 64, "n_head": 4, "n_layer": 2}""");
        StringAssert.Contains(Assert.ThrowsExactly<CheckpointFormatException>(() => Gpt2Checkpoint.Load(folder, CPU)).Message, "config describes a model");
    }
}
