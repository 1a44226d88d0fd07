using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Downloads;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class DownloadTests : TemporaryDirectoryTest
{
    private FileDownloader Downloader(int attempts = 3) => new(Directory, maxAttempts: attempts, retryDelay: TimeSpan.Zero);

    private static (byte[] Weights, string Sha256) FixtureWeights()
    {
        byte[] weights = File.ReadAllBytes(Path.Combine(TestPaths.TinyGpt2, "model.safetensors"));
        return (weights, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weights)));
    }

    [TestMethod]
    public async Task AModelIdDownloadsResumesAfterADroppedConnectionVerifiesAndLoads()
    {
        using var server = new FakeHuggingFaceServer();
        (byte[] weights, string sha256) = FixtureWeights();
        server.Add("openai-community/gpt2/resolve/main/config.json", File.ReadAllBytes(Path.Combine(TestPaths.TinyGpt2, "config.json")));
        server.Add("openai-community/gpt2/resolve/main/model.safetensors", weights, sha256, cutFirstDownload: true);
        var hub = new HuggingFaceHub(Downloader(), server.Endpoint);
        var reports = new List<DownloadProgress>();

        using var model = await Gpt2Checkpoint.LoadPretrainedAsync("gpt2", CPU, hub, new SynchronousProgress(reports.Add));

        Assert.AreEqual(1, server.RangeRequests, "the second attempt must resume, not start over");
        Assert.AreEqual(weights.Length, reports.Last(r => r.FileName == "model.safetensors").BytesReceived);
        using var reference = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        Assert.IsTrue(model.state_dict()["h.1.mlp.c_fc.weight"].equal(reference.state_dict()["h.1.mlp.c_fc.weight"]).all().item<bool>());
        string[] cached = System.IO.Directory.GetFiles(Directory, "*", SearchOption.AllDirectories);
        Assert.AreEqual(2, cached.Length, "only the finished files remain: " + string.Join(", ", cached));

        int requests = server.GetRequests;
        using var again = await Gpt2Checkpoint.LoadPretrainedAsync("openai-community/gpt2", CPU, hub);
        Assert.AreEqual(requests, server.GetRequests, "a cached model is not downloaded again");
    }

    [TestMethod]
    public async Task AChecksumMismatchDeletesTheDownloadAndSaysSo()
    {
        using var server = new FakeHuggingFaceServer();
        (byte[] weights, string sha256) = FixtureWeights();
        weights[^1] ^= 0xFF;
        server.Add("file.bin", weights);
        var error = await Assert.ThrowsExactlyAsync<DownloadException>(() =>
            Downloader().DownloadAsync(new Uri(server.Endpoint, "file.bin"), "file.bin", sha256));
        StringAssert.Contains(error.Message, "corrupt");
        Assert.AreEqual(0, System.IO.Directory.GetFiles(Directory, "*", SearchOption.AllDirectories).Length);
    }

    [TestMethod]
    public async Task NoServerGivesAClearOfflineError()
    {
        var unreachable = new Uri("http://127.0.0.1:9/model.safetensors");
        var error = await Assert.ThrowsExactlyAsync<DownloadException>(() => Downloader(attempts: 2).DownloadAsync(unreachable, "m.safetensors"));
        StringAssert.Contains(error.Message, "offline");
        StringAssert.Contains(error.Message, "local path");
    }

    [TestMethod]
    public async Task AMissingFileIsNotRetried()
    {
        using var server = new FakeHuggingFaceServer();
        var error = await Assert.ThrowsExactlyAsync<DownloadException>(() => Downloader().DownloadAsync(new Uri(server.Endpoint, "nope"), "nope"));
        StringAssert.Contains(error.Message, "404");
        Assert.AreEqual(1, server.GetRequests, "a 404 is final: one request, no retries");
    }

    [TestMethod]
    public void ModelNamesResolveToThePublishedIds()
    {
        Assert.AreEqual("openai-community/gpt2-medium", HuggingFaceHub.ResolveModelId("355M"));
        Assert.AreEqual("openai-community/gpt2-xl", HuggingFaceHub.ResolveModelId("gpt2-xl"));
        Assert.ThrowsExactly<ArgumentException>(() => HuggingFaceHub.ResolveModelId("../../etc"));
    }

    private sealed class SynchronousProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
