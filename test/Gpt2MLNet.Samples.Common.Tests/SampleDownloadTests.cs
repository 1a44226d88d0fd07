using Gpt2.Torch.Downloads;
using Gpt2.Torch.Tests;

namespace Gpt2MLNet.Samples.Tests;

[TestClass]
public sealed class SampleDownloadTests : TemporaryDirectoryTest
{
    private FileDownloader Downloader(int attempts = 3) => new(Directory, maxAttempts: attempts, retryDelay: TimeSpan.Zero);

    [TestMethod]
    public async Task TheSmsSpamArchiveDownloadsUnpacksAndVerifies()
    {
        using var server = new FakeHuggingFaceServer();
        byte[] sms = File.ReadAllBytes(TestPaths.Data("SMSSpamCollection"));
        using var zipped = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(zipped, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            using Stream entry = zip.CreateEntry("SMSSpamCollection").Open();
            entry.Write(sms);
        }
        server.Add("sms.zip", zipped.ToArray(), cutFirstDownload: true);
        string path = await PublicDatasets.SmsSpamCollectionAsync(Downloader(), source: new Uri(server.Endpoint, "sms.zip"));
        CollectionAssert.AreEqual(sms, File.ReadAllBytes(path));
        Assert.AreEqual(path, await PublicDatasets.SmsSpamCollectionAsync(Downloader(), source: new Uri(server.Endpoint, "missing.zip")), "served from the cache");

        using var corrupt = new FakeHuggingFaceServer();
        corrupt.Add("instruction-data.json", "[]"u8.ToArray());
        var error = await Assert.ThrowsExactlyAsync<DownloadException>(() =>
            PublicDatasets.InstructionDataAsync(Downloader(), source: new Uri(corrupt.Endpoint, "instruction-data.json")));
        StringAssert.Contains(error.Message, "corrupt");
    }

    [TestMethod]
    public void ConsoleProgressDrawsTheFirstReportThrottlesTheNextAndEndsTheLine()
    {
        var output = new StringWriter();
        var progress = new ConsoleDownloadProgress(output);
        progress.Report(new DownloadProgress("model.safetensors", 1_000_000, 4_000_000));
        progress.Report(new DownloadProgress("model.safetensors", 2_000_000, 4_000_000));
        progress.Report(new DownloadProgress("model.safetensors", 4_000_000, 4_000_000));
        string[] draws = output.ToString().Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(2, draws.Length, output.ToString());
        StringAssert.Contains(draws[0], "1.0 / 4.0 MB");
        StringAssert.Contains(draws[1], "4.0 / 4.0 MB");
        Assert.IsTrue(draws[1].EndsWith(Environment.NewLine, StringComparison.Ordinal));
    }
}
