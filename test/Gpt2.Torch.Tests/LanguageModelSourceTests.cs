using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Data;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>Every kind of <see cref="LanguageModelSource"/> gives the model it names, and published-or-random falls back only when it must.</summary>
[TestClass]
public sealed class LanguageModelSourceTests : TemporaryDirectoryTest
{
    private static bool SameWeights(CausalLanguageModel a, CausalLanguageModel b) =>
        a.state_dict().Count == b.state_dict().Count && a.state_dict().All(p => p.Value.equal(b.state_dict()[p.Key]).all().item<bool>());

    [TestMethod]
    public void AFolderAStringAndATrainersCheckpointDirectoryLoadTheirWeights()
    {
        using var reference = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        LanguageModelSource fromString = TestPaths.TinyGpt2;
        using (CausalLanguageModel loaded = fromString.Load(CPU))
            Assert.IsTrue(SameWeights(reference, loaded));
        Assert.IsFalse(fromString.IsRandom);
        Assert.AreEqual(TestPaths.TinyGpt2, fromString.NameOrPath);

        using var trained = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        int[] text = [.. Enumerable.Range(0, 64).Select(i => i % 50)];
        var batches = new NextTokenBatches(new NextTokenWindows(text, maxLength: 8, stride: 8), batchSize: 2);
        using (var trainer = new LanguageModelTrainer(trained, new LanguageModelTrainingOptions { Epochs = 1, MaxSteps = 2, LearningRate = 1e-2, CheckpointDirectory = Directory }))
            trainer.Train(batches, batches);
        using CausalLanguageModel latest = LanguageModelSource.Pretrained(Directory).Load(CPU);
        Assert.IsTrue(SameWeights(trained, latest), "the trainer's latest checkpoint");
        Assert.IsFalse(SameWeights(reference, latest), "training moved the weights");
    }

    [TestMethod]
    public void RandomSourcesHaveThePresetsOrTheConfigsSizesAndAnInMemoryModelIsItself()
    {
        using CausalLanguageModel mini = LanguageModelSource.Random("mini").Load(CPU);
        Assert.AreEqual(Gpt2Config.Mini.EmbeddingSize, mini.Config.EmbeddingSize);
        Assert.AreEqual(Gpt2Config.Mini.LayerCount, mini.Config.LayerCount);
        using CausalLanguageModel fromFolder = LanguageModelSource.Random(TestPaths.TinyGpt2).Load(CPU);
        using var reference = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        Assert.AreEqual(reference.Config.EmbeddingSize, fromFolder.Config.EmbeddingSize);
        Assert.IsFalse(SameWeights(reference, fromFolder), "random, not the folder's weights");
        Assert.IsTrue(LanguageModelSource.Random("mini").IsRandom);

        LanguageModelSource inMemory = LanguageModelSource.FromModel(reference);
        Assert.AreSame(reference, inMemory.Load());
        Assert.IsTrue(inMemory.IsInMemory);

        Assert.ThrowsExactly<ArgumentException>(() => LanguageModelSource.Random("no-such-preset"));
        Assert.ThrowsExactly<ArgumentException>(() => LanguageModelSource.Pretrained(" "));
    }

    [TestMethod]
    public async Task PublishedOrRandomDownloadsWhenItCanAndFallsBackToRandomSizesWhenItCannot()
    {
        using var server = new FakeHuggingFaceServer();
        byte[] weights = File.ReadAllBytes(Path.Combine(TestPaths.TinyGpt2, "model.safetensors"));
        server.Add("openai-community/gpt2/resolve/main/config.json", File.ReadAllBytes(Path.Combine(TestPaths.TinyGpt2, "config.json")));
        server.Add("openai-community/gpt2/resolve/main/model.safetensors", weights,
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weights)));
        var downloader = new FileDownloader(Path.Combine(Directory, "cache"), maxAttempts: 1, retryDelay: TimeSpan.Zero);

        LanguageModelSource published = await LanguageModelSource.PublishedOrRandomAsync("124M", hub: new HuggingFaceHub(downloader, server.Endpoint));
        Assert.IsFalse(published.IsRandom);
        using (CausalLanguageModel model = published.Load(CPU))
        using (var reference = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU))
            Assert.IsTrue(SameWeights(reference, model));

        LanguageModelSource unreachable = await LanguageModelSource.PublishedOrRandomAsync("355M", hub: new HuggingFaceHub(downloader, server.Endpoint));
        Assert.IsTrue(unreachable.IsRandom, "the server has no gpt2-medium");
        StringAssert.Contains(unreachable.ToString(), $"{Gpt2Config.Gpt2Medium.LayerCount} layers, width {Gpt2Config.Gpt2Medium.EmbeddingSize}");

        int requests = server.GetRequests;
        Assert.IsTrue((await LanguageModelSource.PublishedOrRandomAsync("mini", hub: new HuggingFaceHub(downloader, server.Endpoint))).IsRandom);
        Assert.AreEqual(requests, server.GetRequests, "a preset without published weights asks no server");
    }
}
