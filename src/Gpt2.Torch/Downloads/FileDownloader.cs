using System.Net;
using System.Security.Cryptography;

namespace Gpt2.Torch.Downloads;

/// <summary>
/// Downloads files into a local cache: resumes a partial download, retries transient failures, verifies a SHA-256
/// checksum, and moves the file into place only once it is complete and verified, so the cache never holds a
/// half-written file under its final name.
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
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAttempts, 1);
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
    /// The cached copy of <paramref name="url"/> at <paramref name="cachePath"/> (relative to the cache), downloading
    /// it first if it is not there.
    /// </summary>
    /// <param name="url">Where to download from.</param>
    /// <param name="cachePath">Path inside the cache.</param>
    /// <param name="sha256">Expected SHA-256 (hex); the download is rejected and deleted when it differs. Null skips the check.</param>
    /// <param name="progress">Receives progress reports (bytes received and the total, for a progress bar), or null.</param>
    /// <param name="cancellationToken">Stops the download; the partial file stays for a later resume.</param>
    public async Task<string> DownloadAsync(Uri url, string cachePath, string? sha256 = null,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string target = Path.GetFullPath(Path.Combine(CacheDirectory, cachePath));
        if (File.Exists(target))
            return target;
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string partial = target + ".partial";
        string fileName = Path.GetFileName(target);

        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await TransferAsync(url, partial, fileName, progress, cancellationToken).ConfigureAwait(false);
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

        if (sha256 is not null)
        {
            string actual = await ComputeSha256Async(partial, cancellationToken).ConfigureAwait(false);
            if (!actual.Equals(sha256, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(partial);
                throw new DownloadException($"{url} arrived corrupt: its SHA-256 is {actual}, expected {sha256.ToLowerInvariant()}. The file was deleted; try again.");
            }
        }
        File.Move(partial, target, overwrite: true);
        return target;
    }

    private async Task TransferAsync(Uri url, string partial, string fileName, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        long resumeFrom = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
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

        await using var file = new FileStream(partial, resuming ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
        await using Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[1 << 20];
        progress?.Report(new DownloadProgress(fileName, received, total));
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            received += read;
            progress?.Report(new DownloadProgress(fileName, received, total));
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
    public static async Task<string> ComputeSha256Async(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }
}
