using System.IO.Compression;
using System.Security.Cryptography;
using Gpt2.Torch.Downloads;

namespace Gpt2MLNet.Samples;

/// <summary>
/// The public datasets of the book's fine-tuning chapters, downloaded once into the cache and checked against the
/// SHA-256 of the copies this project was tested with.
/// </summary>
public static class PublicDatasets
{
    /// <summary>UCI's SMS Spam Collection archive (CC BY 4.0).</summary>
    public static Uri SmsSpamCollectionUrl { get; } = new("https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip");

    /// <summary>SHA-256 of the <c>SMSSpamCollection</c> file inside the archive.</summary>
    public const string SmsSpamCollectionSha256 = "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d";

    /// <summary>The book's instruction-tuning data (chapter 7; Apache License 2.0).</summary>
    public static Uri InstructionDataUrl { get; } = new("https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch07/01_main-chapter-code/instruction-data.json");

    /// <summary>SHA-256 of <c>instruction-data.json</c>.</summary>
    public const string InstructionDataSha256 = "7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944";

    /// <summary>
    /// The path of the <c>SMSSpamCollection</c> file (tab-separated label and text), downloading and unpacking UCI's
    /// archive on first use.
    /// </summary>
    /// <param name="downloader">The downloader and its cache; the default cache when null.</param>
    /// <param name="progress">Receives download progress.</param>
    /// <param name="source">Where the archive lives; UCI when null.</param>
    /// <param name="cancellationToken">Stops the download.</param>
    public static async Task<string> SmsSpamCollectionAsync(FileDownloader? downloader = null, IProgress<DownloadProgress>? progress = null,
        Uri? source = null, CancellationToken cancellationToken = default)
    {
        downloader ??= new FileDownloader();
        string target = Path.Combine(downloader.CacheDirectory, "datasets", "SMSSpamCollection");
        if (File.Exists(target))
            return target;
        string archive = await downloader.DownloadAsync(source ?? SmsSpamCollectionUrl, Path.Combine("datasets", "sms+spam+collection.zip"),
            progress: progress, cancellationToken: cancellationToken).ConfigureAwait(false);
        using (ZipArchive zip = ZipFile.OpenRead(archive))
        {
            ZipArchiveEntry entry = zip.GetEntry("SMSSpamCollection")
                ?? throw new DownloadException($"{archive} holds no SMSSpamCollection file; delete it so it downloads again.");
            // Unpacked beside the target and renamed into place, so that an interrupted run leaves no partial file
            // that the next one would take for the dataset.
            string partial = target + ".partial";
            using (Stream content = entry.Open())
            using (FileStream destination = File.Create(partial))
                content.CopyTo(destination);
            File.Move(partial, target, overwrite: true);
        }
        string actual;
        using (FileStream unpacked = File.OpenRead(target))
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(unpacked, cancellationToken).ConfigureAwait(false));
        if (actual != SmsSpamCollectionSha256)
        {
            File.Delete(target);
            File.Delete(archive);
            throw new DownloadException($"The SMSSpamCollection in {source ?? SmsSpamCollectionUrl} has SHA-256 {actual}, expected {SmsSpamCollectionSha256}; both files were deleted.");
        }
        return target;
    }

    /// <summary>The path of <c>instruction-data.json</c>, downloading it on first use.</summary>
    /// <param name="downloader">The downloader and its cache; the default cache when null.</param>
    /// <param name="progress">Receives download progress.</param>
    /// <param name="source">Where the file lives; the book's repository when null.</param>
    /// <param name="cancellationToken">Stops the download.</param>
    public static Task<string> InstructionDataAsync(FileDownloader? downloader = null, IProgress<DownloadProgress>? progress = null,
        Uri? source = null, CancellationToken cancellationToken = default) =>
        (downloader ?? new FileDownloader()).DownloadAsync(source ?? InstructionDataUrl, Path.Combine("datasets", "instruction-data.json"),
            InstructionDataSha256, progress, cancellationToken);
}
