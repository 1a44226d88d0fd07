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
        string[] cached = [.. System.IO.Directory.GetFiles(Directory, "*", SearchOption.AllDirectories).Select(file => Path.GetFileName(file)).Order()];
        CollectionAssert.AreEqual(new[] { "config.json", "config.json.sha256", "model.safetensors", "model.safetensors.sha256" }, cached,
            "only the finished files and their checksums remain: " + string.Join(", ", cached));
        Assert.IsTrue(reports.Where(r => r.FileName == "model.safetensors").All(r => r.Check == DownloadCheck.Sha256), "the weights are checked against the published SHA-256");

        int requests = server.GetRequests;
        using var again = await Gpt2Checkpoint.LoadPretrainedAsync("openai-community/gpt2", CPU, hub);
        Assert.AreEqual(requests, server.GetRequests, "a cached model is not downloaded again");
    }

    [TestMethod]
    public async Task WithoutAPublishedHashTheSizeIsVerifiedAndTheProgressSaysSo()
    {
        using var server = new FakeHuggingFaceServer();
        (byte[] weights, string sha256) = FixtureWeights();
        server.Add("openai-community/gpt2/resolve/main/config.json", File.ReadAllBytes(Path.Combine(TestPaths.TinyGpt2, "config.json")));
        server.Add("openai-community/gpt2/resolve/main/model.safetensors", weights, sha256: null, publishedSize: weights.Length);
        var reports = new List<DownloadProgress>();

        string folder = await new HuggingFaceHub(Downloader(), server.Endpoint).DownloadModelAsync("gpt2", new SynchronousProgress(reports.Add));

        DownloadProgress[] weightReports = [.. reports.Where(r => r.FileName == "model.safetensors")];
        Assert.IsNotEmpty(weightReports);
        Assert.IsTrue(weightReports.All(r => r.Check == DownloadCheck.SizeOnly), "the progress says only the size is checked");
        Assert.AreEqual(sha256, File.ReadAllText(FileDownloader.ChecksumPath(Path.Combine(folder, "model.safetensors"))).Split(' ')[0], "the SHA-256 is recorded anyway");

        // A file whose size differs from the one the Hub lists is refused and not cached.
        using var wrongSize = new FakeHuggingFaceServer();
        wrongSize.Add("owner/other/resolve/main/config.json", File.ReadAllBytes(Path.Combine(TestPaths.TinyGpt2, "config.json")));
        wrongSize.Add("owner/other/resolve/main/model.safetensors", weights[..^10], sha256: null, publishedSize: weights.Length);
        var error = await Assert.ThrowsExactlyAsync<DownloadException>(() => new HuggingFaceHub(Downloader(), wrongSize.Endpoint).DownloadModelAsync("owner/other"));
        StringAssert.Contains(error.Message, $"published size is {weights.Length}");
        Assert.IsFalse(File.Exists(Path.Combine(Directory, "huggingface", "owner", "other", "main", "model.safetensors")));
    }

    [TestMethod]
    public async Task VerifyDetectsACorruptedCachedFileAndVerifyingDownloadsReplaceIt()
    {
        using var server = new FakeHuggingFaceServer();
        (byte[] weights, string sha256) = FixtureWeights();
        server.Add("file.bin", weights);
        var url = new Uri(server.Endpoint, "file.bin");
        string path = await Downloader().DownloadAsync(url, "file.bin", sha256);
        await Downloader().VerifyAsync("file.bin");

        byte[] corrupted = File.ReadAllBytes(path);
        corrupted[corrupted.Length / 2] ^= 0x01; // one flipped bit, same size
        File.WriteAllBytes(path, corrupted);

        var error = await Assert.ThrowsExactlyAsync<DownloadException>(() => Downloader().VerifyAsync("file.bin"));
        StringAssert.Contains(error.Message, "corrupt");
        StringAssert.Contains(error.Message, sha256);
        int requests = server.GetRequests;
        Assert.AreEqual(path, await Downloader().DownloadAsync(url, "file.bin"), "without verification the cache is trusted");
        Assert.AreEqual(requests, server.GetRequests);

        await new FileDownloader(Directory, retryDelay: TimeSpan.Zero) { VerifyCachedFiles = true }.DownloadAsync(url, "file.bin");

        Assert.AreEqual(requests + 1, server.GetRequests, "the corrupt copy was downloaded again");
        CollectionAssert.AreEqual(weights, File.ReadAllBytes(path));
        await Downloader().VerifyAsync("file.bin");
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
