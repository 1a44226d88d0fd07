using System.Net;
using System.Security.Cryptography;

namespace Gpt2.Torch.Downloads;

/// <summary>
/// Downloads files into a local cache: resumes a partial download, retries transient failures, verifies a SHA-256
/// checksum and the size, and moves the file into place only once it is complete and verified, so the cache never holds a
/// half-written file under its final name. The SHA-256 of every file is recorded beside it (<c>NAME.sha256</c>, in
/// <c>sha256sum</c>'s format), so that <see cref="VerifyAsync"/> and <see cref="VerifyCachedFiles"/> can detect a cached
/// file that changed on disk later.
/// </summary>
public sealed class FileDownloader
{
    private readonly HttpClient _client;
    private readonly int _maxAttempts;
    private readonly TimeSpan _retryDelay;

    /// <summary>Creates a downloader.</summary>
    /// <param name="cacheDirectory">Where files are kept; <see cref="DefaultCacheDirectory"/> when null.</param>
    /// <param name="httpClient">The client to use; a shared default when null.</param>
    /// <param name="maxAttempts">Tries per file before giving up on transient failures.</param>
    /// <param name="retryDelay">Wait before the first retry, doubled for each further one (1 s when null).</param>
    public FileDownloader(string? cacheDirectory = null, HttpClient? httpClient = null, int maxAttempts = 4, TimeSpan? retryDelay = null)
    {
        OptionChecks.AtLeast(maxAttempts, 1, nameof(maxAttempts), "4");
        CacheDirectory = cacheDirectory ?? DefaultCacheDirectory;
        _client = httpClient ?? SharedClient.Value;
        _maxAttempts = maxAttempts;
        _retryDelay = retryDelay ?? TimeSpan.FromSeconds(1);
    }

    private static readonly Lazy<HttpClient> SharedClient = new(() => new HttpClient { Timeout = Timeout.InfiniteTimeSpan });

    /// <summary><c>$GPT2MLNET_CACHE</c>, else <c>$XDG_CACHE_HOME/gpt2mlnet</c>, else <c>~/.cache/gpt2mlnet</c>.</summary>
    public static string DefaultCacheDirectory =>
        Environment.GetEnvironmentVariable("GPT2MLNET_CACHE") is { Length: > 0 } configured ? configured
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "gpt2mlnet");

    /// <summary>The cache folder.</summary>
    public string CacheDirectory { get; }

    /// <summary>
    /// When set, a file already in the cache is re-hashed before it is returned, and downloaded again when it differs from
    /// the expected SHA-256 (given, else the one recorded at its download). Costs one read of the file.
    /// </summary>
    public bool VerifyCachedFiles { get; init; }

    /// <summary>The file beside a cached file that records its SHA-256.</summary>
    internal static string ChecksumPath(string cachedFile) => cachedFile + ".sha256";

    /// <summary>
    /// The cached copy of <paramref name="url"/> at <paramref name="cachePath"/> (relative to the cache), downloading
    /// it first if it is not there.
    /// </summary>
    /// <param name="url">Where to download from.</param>
    /// <param name="cachePath">Path inside the cache.</param>
    /// <param name="sha256">Expected SHA-256 (hex); the download is rejected and deleted when it differs. Null skips the check.</param>
    /// <param name="progress">Receives progress reports (bytes received and the total, for a progress bar), or null.</param>
    /// <param name="cancellationToken">Stops the download; the partial file stays for a later resume.</param>
    public Task<string> DownloadAsync(Uri url, string cachePath, string? sha256 = null,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadAsync(url, cachePath, sha256, expectedSize: null, progress, cancellationToken);

    /// <summary>
    /// The cached copy of <paramref name="url"/> at <paramref name="cachePath"/> (relative to the cache), downloading
    /// it first if it is not there, and checking it against a published checksum and size.
    /// </summary>
    /// <param name="url">Where to download from.</param>
    /// <param name="cachePath">Path inside the cache.</param>
    /// <param name="sha256">Expected SHA-256 (hex); the download is rejected and deleted when it differs. Null skips the check.</param>
    /// <param name="expectedSize">Expected size in bytes (for example the size the Hub publishes); the download is rejected and deleted when it differs.</param>
    /// <param name="progress">Receives progress reports, for example a console display; their <see cref="DownloadProgress.Check"/> says what the file is checked against.</param>
    /// <param name="cancellationToken">Stops the download; the partial file stays for a later resume.</param>
    public Task<string> DownloadAsync(Uri url, string cachePath, string? sha256, long? expectedSize,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadAsync(url, cachePath, sha256, expectedSize, authorization: null, progress, cancellationToken);

    /// <summary>The same, sending <paramref name="authorization"/> with each request (a redirect drops it).</summary>
    internal async Task<string> DownloadAsync(Uri url, string cachePath, string? sha256, long? expectedSize,
        System.Net.Http.Headers.AuthenticationHeaderValue? authorization, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        string target = Path.GetFullPath(Path.Combine(CacheDirectory, cachePath));
        if (File.Exists(target))
        {
            if (!VerifyCachedFiles)
                return target;
            (string actual, string? expected) = await HashCachedAsync(target, sha256, cancellationToken).ConfigureAwait(false);
            if (expected is null)
                throw Unverifiable(target);
            if (actual.Equals(expected, StringComparison.OrdinalIgnoreCase))
                return target;
            File.Delete(target); // changed on disk since it was downloaded: fetch it again
            File.Delete(ChecksumPath(target));
        }
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string partial = target + ".partial";
        string fileName = Path.GetFileName(target);

        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await TransferAsync(url, partial, fileName, sha256, expectedSize, authorization, progress, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (IsTransient(e) && !cancellationToken.IsCancellationRequested)
            {
                if (attempt == _maxAttempts)
                    throw new DownloadException(
                        $"Could not download {url} after {attempt} attempts ({e.Message}). If this machine is offline or cannot reach " +
                        $"{url.Host}, download the file elsewhere and pass its local path instead. A partial download stays at {partial} and resumes next time.", e);
                await Task.Delay(_retryDelay * Math.Pow(2, attempt - 1), cancellationToken).ConfigureAwait(false);
            }
        }

        long size = new FileInfo(partial).Length;
        if (expectedSize is long expectedBytes && size != expectedBytes)
        {
            File.Delete(partial);
            throw new DownloadException($"{url} arrived corrupt: it has {size} bytes, but its published size is {expectedBytes}. The file was deleted; try again.");
        }
        string hash = await ComputeSha256Async(partial, cancellationToken).ConfigureAwait(false);
        if (sha256 is not null && !hash.Equals(sha256, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(partial);
            throw new DownloadException($"{url} arrived corrupt: its SHA-256 is {hash}, expected {sha256.ToLowerInvariant()}. The file was deleted; try again.");
        }
        IO.AtomicFile.WriteAllText(ChecksumPath(target), $"{hash}  {fileName}\n");
        File.Move(partial, target, overwrite: true);
        return target;
    }

    /// <summary>
    /// Re-hashes the cached file at <paramref name="cachePath"/> and compares it with the SHA-256 recorded at its download.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file is not in the cache.</exception>
    /// <exception cref="DownloadException">The file differs from its recorded checksum (it changed on disk), or has none recorded.</exception>
    public async Task VerifyAsync(string cachePath, CancellationToken cancellationToken = default)
    {
        string target = Path.GetFullPath(Path.Combine(CacheDirectory, cachePath));
        if (!File.Exists(target))
            throw new FileNotFoundException($"{target} is not in the cache; download it first.", target);
        (string actual, string? recorded) = await HashCachedAsync(target, null, cancellationToken).ConfigureAwait(false);
        if (recorded is null)
            throw Unverifiable(target);
        if (!actual.Equals(recorded, StringComparison.OrdinalIgnoreCase))
            throw new DownloadException(
                $"{target} is corrupt: its SHA-256 is now {actual}, but it was {recorded} when downloaded. Delete it to download it again, " +
                $"or download it with a {nameof(FileDownloader)} whose {nameof(VerifyCachedFiles)} is set, which replaces it.");
    }

    private static DownloadException Unverifiable(string target) =>
        new($"{target} has no recorded SHA-256 (it was cached by an earlier version) and none was given, so it cannot be verified; delete it to download it again.");

    // The cached file's SHA-256 now, and the one it should have: the given one, else the one recorded beside it.
    private static async Task<(string Actual, string? Expected)> HashCachedAsync(string target, string? sha256, CancellationToken cancellationToken)
    {
        string checksumFile = ChecksumPath(target);
        string? recorded = File.Exists(checksumFile)
            ? (await File.ReadAllTextAsync(checksumFile, cancellationToken).ConfigureAwait(false)).Split(' ', 2)[0].Trim()
            : null;
        return (await ComputeSha256Async(target, cancellationToken).ConfigureAwait(false), sha256 ?? recorded);
    }

    private async Task TransferAsync(Uri url, string partial, string fileName, string? sha256, long? expectedSize,
        System.Net.Http.Headers.AuthenticationHeaderValue? authorization, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        long resumeFrom = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = authorization;
        if (resumeFrom > 0)
            request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(resumeFrom, null);
        using HttpResponseMessage response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);

        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            File.Delete(partial); // the partial file no longer fits the remote one: start clean
            throw new HttpRequestException($"the server refused to resume at byte {resumeFrom}", null, response.StatusCode);
        }
        if (!response.IsSuccessStatusCode)
            throw new DownloadException($"Could not download {url}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}.");

        bool resuming = resumeFrom > 0 && response.StatusCode == HttpStatusCode.PartialContent;
        long received = resuming ? resumeFrom : 0;
        long? total = response.Content.Headers.ContentRange?.Length
            ?? (response.Content.Headers.ContentLength is long length ? received + length : null);

        DownloadCheck check = sha256 is not null ? DownloadCheck.Sha256 : (expectedSize ?? total) is not null ? DownloadCheck.SizeOnly : DownloadCheck.None;

        await using var file = new FileStream(partial, resuming ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
        await using Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[1 << 20];
        progress?.Report(new DownloadProgress(fileName, received, total) { Check = check });
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            received += read;
            progress?.Report(new DownloadProgress(fileName, received, total) { Check = check });
        }
        if (total is long expected && received != expected)
            throw new IOException($"the connection closed after {received} of {expected} bytes");
    }

    private static bool IsTransient(Exception e) => e switch
    {
        DownloadException => false,
        HttpRequestException http => http.StatusCode is null or HttpStatusCode.RequestedRangeNotSatisfiable or HttpStatusCode.TooManyRequests
            or HttpStatusCode.RequestTimeout or >= HttpStatusCode.InternalServerError,
        IOException or TimeoutException => true,
        TaskCanceledException => true, // an HttpClient timeout, not the caller's token (checked by the caller)
        _ => false,
    };

    /// <summary>The SHA-256 of a file, as lower-case hex.</summary>
    internal static async Task<string> ComputeSha256Async(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }
}
