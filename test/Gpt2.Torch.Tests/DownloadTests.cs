using System.Text;
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

        CollectionAssert.AreEquivalent(new[] { "config.json", "model.safetensors" },
            server.Requests.Select(r => r.Path.Split('/')[^1]).Distinct().ToArray(), "a GPT-2 asks for its config and weights only");

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

    private static string FamilyFixture(string name, string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "families", name, file);

    private static string Sha256Of(byte[] content) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));

    // Publishes fixture files under owner/name/resolve/main/ as the Hub does: *.safetensors with their SHA-256 (LFS files).
    private static void Publish(FakeHuggingFaceServer server, string modelId, string fixture, params string[] files)
    {
        foreach (string file in files)
        {
            byte[] content = File.ReadAllBytes(FamilyFixture(fixture, file));
            server.Add($"{modelId}/resolve/main/{file}", content, file.EndsWith(".safetensors", StringComparison.Ordinal) ? Sha256Of(content) : null);
        }
    }

    private string[] CachedFiles(string folder) =>
        [.. System.IO.Directory.GetFiles(folder).Select(Path.GetFileName).Where(name => !name!.EndsWith(".sha256", StringComparison.Ordinal)).Order()!];

    // Catches a tokenizer download that fetches the weights too (gigabytes for a random-weights run), misses the
    // tokenizer's config, or treats an unpublished generation_config.json as fatal.
    [TestMethod]
    public async Task ATokenizerDownloadFetchesTheTokenizerFilesAndNoWeights()
    {
        using var server = new FakeHuggingFaceServer();
        const string id = "HuggingFaceTB/Tiny-SmolLM2";
        Publish(server, id, "tiny-qwen3", "config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors");
        byte[] tokenizer = Encoding.UTF8.GetBytes("{\"model\": {}}"), tokenizerConfig = "{}"u8.ToArray();
        server.Add($"{id}/resolve/main/tokenizer.json", tokenizer);
        server.Add($"{id}/resolve/main/tokenizer_config.json", tokenizerConfig);

        string folder = await new HuggingFaceHub(Downloader(), server.Endpoint, accessToken: "").DownloadTokenizerAsync(id);

        CollectionAssert.AreEquivalent(new[] { "tokenizer.json", "tokenizer_config.json" }, CachedFiles(folder));
        CollectionAssert.AreEqual(tokenizer, File.ReadAllBytes(Path.Combine(folder, "tokenizer.json")));
        Assert.IsFalse(server.Requests.Any(r => r.Method == "GET" && r.Path.EndsWith(".safetensors", StringComparison.Ordinal)), "no weights are fetched");

        using var without = new FakeHuggingFaceServer();
        without.Add($"{id}/resolve/main/config.json", "{}"u8.ToArray());
        await Assert.ThrowsExactlyAsync<DownloadException>(() => new HuggingFaceHub(Downloader(), without.Endpoint, accessToken: "").DownloadTokenizerAsync("owner/no-tokenizer"));
    }

    [TestMethod]
    public async Task AShardedRepositoryDownloadsEveryShardItsIndexNamesAndNothingElse()
    {
        using var server = new FakeHuggingFaceServer();
        const string id = "Qwen/Tiny-Qwen3";
        string[] published = ["config.json", "generation_config.json", "model.safetensors.index.json",
            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
        Publish(server, id, "tiny-qwen3", published);
        server.Add($"{id}/resolve/main/tokenizer.json", "{\"model\": {}}"u8.ToArray());
        server.Add($"{id}/resolve/main/tokenizer_config.json", "{}"u8.ToArray());
        server.Add($"{id}/resolve/main/model-00003-of-00003.safetensors", new byte[100], Sha256Of(new byte[100])); // not in the index
        server.Add($"{id}/resolve/main/pytorch_model.bin", new byte[100]);
        server.Add($"{id}/resolve/main/README.md", "# tiny"u8.ToArray());
        var reports = new List<DownloadProgress>();

        string folder = await new HuggingFaceHub(Downloader(), server.Endpoint, accessToken: "").DownloadModelAsync(id, new SynchronousProgress(reports.Add));

        string[] expected = [.. published.Append("tokenizer.json").Append("tokenizer_config.json").Order()];
        CollectionAssert.AreEqual(expected, CachedFiles(folder));
        foreach (string file in published)
            CollectionAssert.AreEqual(File.ReadAllBytes(FamilyFixture("tiny-qwen3", file)), File.ReadAllBytes(Path.Combine(folder, file)), file);
        CollectionAssert.AreEquivalent(expected, server.Requests.Where(r => r.Method == "GET").Select(r => r.Path.Split('/')[^1]).ToArray(),
            "each published file is fetched once, and nothing the index does not name");
        foreach (string shard in new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" })
        {
            DownloadProgress[] shardReports = [.. reports.Where(r => r.FileName == shard)];
            Assert.IsNotEmpty(shardReports, $"progress for {shard}");
            Assert.AreEqual(new FileInfo(FamilyFixture("tiny-qwen3", shard)).Length, shardReports[^1].BytesReceived);
            Assert.IsTrue(shardReports.All(r => r.Check == DownloadCheck.Sha256), "each shard is checked against its published SHA-256");
        }

        int requests = server.Requests.Count;
        Assert.AreEqual(folder, await new HuggingFaceHub(Downloader(), server.Endpoint, accessToken: "").DownloadModelAsync(id));
        Assert.AreEqual(requests, server.Requests.Count, "a downloaded repository is not asked for again");
    }

    [TestMethod]
    public async Task ARepositoryWithoutTheOptionalFilesDownloadsAndThenLoadsOffline()
    {
        const string id = "HuggingFaceTB/Tiny-Llama";
        string folder;
        using (var server = new FakeHuggingFaceServer())
        {
            Publish(server, id, "tiny-llama", "config.json", "model.safetensors");
            server.Add($"{id}/resolve/main/tokenizer.json", "{}"u8.ToArray());
            folder = await new HuggingFaceHub(Downloader(), server.Endpoint, accessToken: "").DownloadModelAsync(id);
            CollectionAssert.AreEqual(new[] { "config.json", "model.safetensors", "tokenizer.json" }, CachedFiles(folder),
                "generation_config.json and tokenizer_config.json are not published: no error, nothing cached");

            server.Add("owner/bin-only/resolve/main/config.json", File.ReadAllBytes(FamilyFixture("tiny-llama", "config.json")));
            server.Add("owner/bin-only/resolve/main/pytorch_model.bin", new byte[10]);
            var error = await Assert.ThrowsExactlyAsync<DownloadException>(() =>
                new HuggingFaceHub(Downloader(), server.Endpoint, accessToken: "").DownloadModelAsync("owner/bin-only"));
            StringAssert.Contains(error.Message, "owner/bin-only");
            StringAssert.Contains(error.Message, "model.safetensors.index.json");
        }

        // The server is gone: the cached model needs no network, not even for the files the Hub did not publish.
        Assert.AreEqual(folder, await new HuggingFaceHub(Downloader(attempts: 1), new Uri("http://127.0.0.1:9/"), accessToken: "").DownloadModelAsync(id));
    }

    [TestMethod]
    public async Task AGatedRepositoryGetsTheTokenWhichNoMessageAndNoRedirectedRequestSees()
    {
        using var server = new FakeHuggingFaceServer { RequiredToken = Secret };
        const string id = "meta-llama/Tiny-Llama-3";
        Publish(server, id, "tiny-llama3", "config.json", "generation_config.json");
        byte[] weights = File.ReadAllBytes(FamilyFixture("tiny-llama3", "model.safetensors"));
        server.Add("storage/blob-1", weights, Sha256Of(weights)); // where the Hub sends the weights: no token needed, none sent
        server.Redirect($"{id}/resolve/main/model.safetensors", "storage/blob-1");

        string folder = await new HuggingFaceHub(Downloader(), server.Endpoint, accessToken: Secret).DownloadModelAsync(id);

        CollectionAssert.AreEqual(weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
        Assert.IsTrue(server.Requests.Where(r => r.Path.StartsWith(id, StringComparison.Ordinal)).All(r => r.Authorization == "Bearer " + Secret),
            "every request to the Hub carries the token");
        Assert.IsTrue(server.Requests.Where(r => r.Path.StartsWith("storage/", StringComparison.Ordinal)).All(r => r.Authorization is null),
            "the storage a file redirects to never sees the token");
        Assert.IsTrue(server.Requests.Any(r => r.Path == "storage/blob-1" && r.Method == "GET"));

        string otherCache = Path.Combine(Directory, "other");
        var anonymous = await Assert.ThrowsExactlyAsync<DownloadException>(() =>
            new HuggingFaceHub(new FileDownloader(otherCache, maxAttempts: 3, retryDelay: TimeSpan.Zero), server.Endpoint, accessToken: "").DownloadModelAsync(id));
        StringAssert.Contains(anonymous.Message, id);
        StringAssert.Contains(anonymous.Message, "HF_TOKEN");
        StringAssert.Contains(anonymous.Message, "license");
        Assert.IsFalse(System.IO.Directory.Exists(otherCache) && System.IO.Directory.GetFiles(otherCache, "*", SearchOption.AllDirectories).Length > 0);

        const string wrongToken = "hf_WrongToken0987654321";
        int before = server.Requests.Count;
        var refused = await Assert.ThrowsExactlyAsync<DownloadException>(() =>
            new HuggingFaceHub(new FileDownloader(otherCache, maxAttempts: 3, retryDelay: TimeSpan.Zero), server.Endpoint, accessToken: wrongToken).DownloadModelAsync(id));
        StringAssert.Contains(refused.Message, id);
        StringAssert.Contains(refused.Message, "HF_TOKEN");
        Assert.AreEqual(before + 1, server.Requests.Count, "a refusal is final: one request, no retries");
        foreach (Exception e in new Exception[] { anonymous, refused })
        {
            Assert.IsFalse(e.ToString().Contains(Secret, StringComparison.Ordinal), "the token never appears in a message");
            Assert.IsFalse(e.ToString().Contains(wrongToken, StringComparison.Ordinal), "the token never appears in a message");
        }

        var badToken = Assert.ThrowsExactly<ArgumentException>(() => new HuggingFaceHub(Downloader(), server.Endpoint, accessToken: "hf_abc def"));
        Assert.IsFalse(badToken.Message.Contains("abc", StringComparison.Ordinal), "a malformed token is not quoted either");
    }

    private const string Secret = "hf_TestSecret1234567890";

    [TestMethod]
    [DataRow("../../escaped.safetensors")]
    [DataRow("sub/model-00001-of-00001.safetensors")]
    [DataRow("..\\escaped.safetensors")]
    [DataRow("config.json")]
    public async Task AShardIndexNamingAFileOutsideTheRepositoryIsRefused(string shard)
    {
        using var server = new FakeHuggingFaceServer();
        const string id = "owner/evil";
        server.Add($"{id}/resolve/main/config.json", File.ReadAllBytes(FamilyFixture("tiny-qwen3", "config.json")));
        server.Add($"{id}/resolve/main/model.safetensors.index.json",
            System.Text.Encoding.UTF8.GetBytes("""{"metadata": {"total_size": 8}, "weight_map": {"model.norm.weight": """
                + System.Text.Json.JsonSerializer.Serialize(shard) + "}}"));

        var error = await Assert.ThrowsExactlyAsync<DownloadException>(() =>
            new HuggingFaceHub(Downloader(), server.Endpoint, accessToken: "").DownloadModelAsync(id));

        StringAssert.Contains(error.Message, id);
        StringAssert.Contains(error.Message, "not a plain *.safetensors file name");
        CollectionAssert.AreEquivalent(new[] { "config.json", "model.safetensors.index.json" },
            server.Requests.Where(r => r.Method == "GET").Select(r => r.Path.Split('/')[^1]).ToArray(), "the named file is never requested");
        string folder = Path.Combine(Directory, "huggingface", "owner", "evil", "main");
        CollectionAssert.AreEqual(new[] { "config.json" }, CachedFiles(folder), "the refused index is not kept");
        Assert.AreEqual(0, System.IO.Directory.GetFiles(Directory, "*.safetensors*", SearchOption.AllDirectories).Length, "no shard was written anywhere");
    }

    private sealed class SynchronousProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
