using System.Text.RegularExpressions;

namespace Gpt2.Torch.Downloads;

/// <summary>
/// Downloads GPT-2 checkpoints from the Hugging Face Hub into the local cache, verifying the weights against the
/// SHA-256 and size the Hub publishes for them. When the Hub publishes no SHA-256 (small files, or a mirror that does
/// not say), only the size is checked, and the progress reports say so (<see cref="DownloadProgress.Check"/>).
/// </summary>
public sealed partial class HuggingFaceHub
{
    private static readonly Lazy<HttpClient> MetadataClient = new(() =>
        new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) });

    private readonly FileDownloader _downloader;

    /// <summary>Creates a client of the Hub.</summary>
    /// <param name="downloader">Downloads and caches the files; a default <see cref="FileDownloader"/> when null.</param>
    /// <param name="endpoint">The Hub's address; <c>$HF_ENDPOINT</c> or https://huggingface.co when null.</param>
    /// <param name="revision">The branch, tag or commit to download.</param>
    public HuggingFaceHub(FileDownloader? downloader = null, Uri? endpoint = null, string revision = "main")
    {
        _downloader = downloader ?? new FileDownloader();
        Endpoint = endpoint ?? new Uri(Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } configured ? configured : "https://huggingface.co");
        Revision = revision;
    }

    /// <summary>The Hub's address.</summary>
    public Uri Endpoint { get; }

    /// <summary>The revision downloaded.</summary>
    public string Revision { get; }

    /// <summary>The published GPT-2 sizes: 124M, 355M, 774M and 1558M parameters.</summary>
    public static IReadOnlyList<string> PublishedGpt2Models { get; } =
        ["openai-community/gpt2", "openai-community/gpt2-medium", "openai-community/gpt2-large", "openai-community/gpt2-xl"];

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")]
    private static partial Regex ModelIdPattern();

    /// <summary>
    /// A model id for a name: <c>gpt2</c>, <c>gpt2-medium</c>, <c>gpt2-large</c> and <c>gpt2-xl</c> (or 124M, 355M,
    /// 774M, 1558M) are the published GPT-2 models; anything else is taken as a Hub id such as <c>owner/name</c>.
    /// </summary>
    public static string ResolveModelId(string name) => name.ToLowerInvariant() switch
    {
        "gpt2" or "124m" => PublishedGpt2Models[0],
        "gpt2-medium" or "355m" => PublishedGpt2Models[1],
        "gpt2-large" or "774m" => PublishedGpt2Models[2],
        "gpt2-xl" or "1558m" => PublishedGpt2Models[3],
        _ when ModelIdPattern().IsMatch(name) && !name.Contains("..", StringComparison.Ordinal) => name,
        _ => throw new ArgumentException($"'{name}' is neither a local folder nor a Hugging Face model id (owner/name).", nameof(name)),
    };

    /// <summary>Downloads <c>config.json</c> and <c>model.safetensors</c> of a model; returns the local folder holding them.</summary>
    public async Task<string> DownloadModelAsync(string modelId, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string id = ResolveModelId(modelId);
        string folder = Path.Combine("huggingface", id.Replace('/', Path.DirectorySeparatorChar), Revision);
        string? weights = null;
        foreach (string file in new[] { "config.json", "model.safetensors" })
        {
            var url = new Uri(Endpoint, $"{id}/resolve/{Uri.EscapeDataString(Revision)}/{file}");
            string cachePath = Path.Combine(folder, file);
            (string? sha256, long? size) = File.Exists(Path.Combine(_downloader.CacheDirectory, cachePath)) && !_downloader.VerifyCachedFiles ? default
                : await GetPublishedAsync(url, cancellationToken).ConfigureAwait(false);
            weights = await _downloader.DownloadAsync(url, cachePath, sha256, size, progress, cancellationToken).ConfigureAwait(false);
        }
        return Path.GetDirectoryName(weights)!;
    }

    // The Hub answers a HEAD of a large (LFS) file with its SHA-256 in X-Linked-Etag and its size in X-Linked-Size,
    // before redirecting to storage; for other files it publishes neither (a git ETag is no SHA-256).
    private static async Task<(string? Sha256, long? Size)> GetPublishedAsync(Uri url, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Head, url);
            using HttpResponseMessage response = await MetadataClient.Value.SendAsync(request, cancellationToken).ConfigureAwait(false);
            string? sha256 = null;
            foreach (string header in new[] { "X-Linked-Etag", "ETag" })
            {
                if (sha256 is null && response.Headers.TryGetValues(header, out var values) && values.First().Trim('"') is var tag
                    && tag.Length == 64 && tag.All(Uri.IsHexDigit))
                    sha256 = tag.ToLowerInvariant();
            }
            long? size = response.Headers.TryGetValues("X-Linked-Size", out var sizes)
                && long.TryParse(sizes.First(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long bytes) ? bytes : null;
            return (sha256, size);
        }
        catch (HttpRequestException)
        {
            return default; // unreachable: the download itself reports the problem
        }
    }
}
