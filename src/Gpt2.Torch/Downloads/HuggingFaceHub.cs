using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Gpt2.Torch.Downloads;

/// <summary>
/// Downloads models from the Hugging Face Hub into the local cache, as their repositories publish them: for a GPT-2,
/// <c>config.json</c> and <c>model.safetensors</c>; for the other families (Llama, Qwen2, Qwen3, ...) also
/// <c>generation_config.json</c>, <c>tokenizer.json</c> and <c>tokenizer_config.json</c> when the repository has them,
/// and the weights as one <c>model.safetensors</c> or as every shard that <c>model.safetensors.index.json</c> names.
/// Large files are verified against the SHA-256 and size the Hub publishes for them. When the Hub publishes no SHA-256
/// (small files, or a mirror that does not say), only the size is checked, and the progress reports say so
/// (<see cref="DownloadProgress.Check"/>). Gated repositories (such as meta-llama/*) need an access token of an account
/// that accepted the model's license: the <c>HF_TOKEN</c> environment variable, or the one given to the constructor.
/// </summary>
public sealed partial class HuggingFaceHub
{
    private static readonly Lazy<HttpClient> MetadataClient = new(() =>
        new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) });

    // What a repository of another family may publish beside its weights; each is downloaded when the Hub has it.
    private static readonly string[] CompanionFiles = ["generation_config.json", "tokenizer.json", "tokenizer_config.json"];

    private const string SingleWeightsFile = "model.safetensors";

    private readonly FileDownloader _downloader;
    private readonly AuthenticationHeaderValue? _authorization;

    /// <summary>Creates a client of the Hub.</summary>
    /// <param name="downloader">Downloads and caches the files; a default <see cref="FileDownloader"/> when null.</param>
    /// <param name="endpoint">The Hub's address; <c>$HF_ENDPOINT</c> or https://huggingface.co when null.</param>
    /// <param name="revision">The branch, tag or commit to download.</param>
    /// <param name="accessToken">
    /// A Hugging Face access token, sent to <paramref name="endpoint"/> (never to the storage it redirects to) for gated
    /// repositories; <c>$HF_TOKEN</c> when null, none when empty. It appears in no message, log or progress report.
    /// </param>
    /// <exception cref="ArgumentException">The token has spaces or control characters, which no token has.</exception>
    public HuggingFaceHub(FileDownloader? downloader = null, Uri? endpoint = null, string revision = "main", string? accessToken = null)
    {
        _downloader = downloader ?? new FileDownloader();
        Endpoint = endpoint ?? new Uri(Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } configured ? configured : "https://huggingface.co");
        Revision = revision;
        string token = (accessToken ?? Environment.GetEnvironmentVariable("HF_TOKEN") ?? "").Trim();
        if (token.Any(c => c <= ' ' || c >= 0x7F))
            throw new ArgumentException(
                "The Hugging Face access token (HF_TOKEN, or the one given) has spaces or control characters, which no token has; copy it again from huggingface.co/settings/tokens.",
                nameof(accessToken)); // the message must not quote the token
        _authorization = token.Length > 0 ? new AuthenticationHeaderValue("Bearer", token) : null;
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

    /// <summary>
    /// Downloads a model's repository as published (see <see cref="HuggingFaceHub"/>); returns the local folder holding
    /// it. Files already in the cache are not asked for again, so a model downloaded once loads offline.
    /// </summary>
    /// <exception cref="DownloadException">
    /// A file could not be downloaded or arrived corrupt; the Hub refused access (a gated model without an accepted
    /// license or <c>HF_TOKEN</c>); the repository has no safetensors weights; or its shard index names a file outside it.
    /// </exception>
    public async Task<string> DownloadModelAsync(string modelId, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string id = ResolveModelId(modelId);
        var repository = new Repository(id, Path.Combine("huggingface", id.Replace('/', Path.DirectorySeparatorChar), Revision), progress, cancellationToken);
        string folder = Path.GetDirectoryName(await DownloadAsync(repository, "config.json").ConfigureAwait(false))!;
        if (IsGpt2(Path.Combine(folder, "config.json")))
        {
            await DownloadAsync(repository, SingleWeightsFile).ConfigureAwait(false);
            return folder;
        }

        // The weights come last, so weights in the cache mean an earlier call settled every companion file: one that is
        // not cached was not published, and is not asked for again (a cached model loads offline).
        bool weightsCached = CachedWeights(folder, id);
        foreach (string file in CompanionFiles)
        {
            if (File.Exists(Path.Combine(folder, file)) || !weightsCached)
                await DownloadIfPublishedAsync(repository, file).ConfigureAwait(false);
        }

        if (File.Exists(Path.Combine(folder, ShardIndex.FileName)))
            await DownloadShardsAsync(repository, folder, probe: null).ConfigureAwait(false);
        else if (File.Exists(Path.Combine(folder, SingleWeightsFile)))
            await DownloadAsync(repository, SingleWeightsFile).ConfigureAwait(false);
        else if (await ProbeAsync(repository, SingleWeightsFile).ConfigureAwait(false) is { Status: not HttpStatusCode.NotFound } single)
            await DownloadAsync(repository, SingleWeightsFile, single).ConfigureAwait(false);
        else if (await ProbeAsync(repository, ShardIndex.FileName).ConfigureAwait(false) is { Status: not HttpStatusCode.NotFound } index)
            await DownloadShardsAsync(repository, folder, index).ConfigureAwait(false);
        else
            throw new DownloadException(
                $"{id} (revision {Revision}) publishes neither {SingleWeightsFile} nor {ShardIndex.FileName}: only safetensors checkpoints can be " +
                "downloaded (a repository with only pytorch_model.bin must be converted to safetensors first).");
        return folder;
    }

    /// <summary>
    /// Downloads a model's tokenizer alone (<c>tokenizer.json</c>, and <c>tokenizer_config.json</c> and
    /// <c>generation_config.json</c> when published) into the model's cache folder, and returns that folder: what a
    /// model of a published size with random weights reads its text with (<see cref="LanguageModelSource.Random(string)"/>).
    /// </summary>
    /// <param name="modelId">A Hugging Face model id (<c>HuggingFaceTB/SmolLM2-135M</c>).</param>
    /// <param name="progress">Receives download progress.</param>
    /// <param name="cancellationToken">Stops the download.</param>
    /// <exception cref="DownloadException">A file could not be downloaded, the Hub refused access, or the repository has no tokenizer.json.</exception>
    public async Task<string> DownloadTokenizerAsync(string modelId, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string id = ResolveModelId(modelId);
        var repository = new Repository(id, Path.Combine("huggingface", id.Replace('/', Path.DirectorySeparatorChar), Revision), progress, cancellationToken);
        string tokenizer = await DownloadAsync(repository, CompanionFiles[1]).ConfigureAwait(false);
        foreach (string file in new[] { CompanionFiles[2], CompanionFiles[0] })
            await DownloadIfPublishedAsync(repository, file).ConfigureAwait(false);
        return Path.GetDirectoryName(tokenizer)!;
    }

    private sealed record Repository(string Id, string CacheFolder, IProgress<DownloadProgress>? Progress, CancellationToken CancellationToken);

    // What a HEAD of a file told: its status (null when the Hub could not be reached), and the SHA-256 and size it publishes.
    private sealed record Published(HttpStatusCode? Status, string? Sha256, long? Size);

    private Uri UrlOf(Repository repository, string file) =>
        new(Endpoint, $"{repository.Id}/resolve/{Uri.EscapeDataString(Revision)}/{file}");

    private async Task<string> DownloadAsync(Repository repository, string file, Published? published = null)
    {
        string cachePath = Path.Combine(repository.CacheFolder, file);
        if (published is null && (!File.Exists(Path.Combine(_downloader.CacheDirectory, cachePath)) || _downloader.VerifyCachedFiles))
            published = await ProbeAsync(repository, file).ConfigureAwait(false);
        return await _downloader.DownloadAsync(UrlOf(repository, file), cachePath, published?.Sha256, published?.Size, _authorization,
            repository.Progress, repository.CancellationToken).ConfigureAwait(false);
    }

    private async Task DownloadIfPublishedAsync(Repository repository, string file)
    {
        if (File.Exists(Path.Combine(_downloader.CacheDirectory, repository.CacheFolder, file)))
            await DownloadAsync(repository, file).ConfigureAwait(false);
        else if (await ProbeAsync(repository, file).ConfigureAwait(false) is { Status: not HttpStatusCode.NotFound } published)
            await DownloadAsync(repository, file, published).ConfigureAwait(false);
    }

    private async Task DownloadShardsAsync(Repository repository, string folder, Published? probe)
    {
        string index = await DownloadAsync(repository, ShardIndex.FileName, probe).ConfigureAwait(false);
        IReadOnlyList<string> shards;
        try
        {
            shards = ShardIndex.ReadShardFiles(index, repository.Id);
        }
        catch (DownloadException)
        {
            File.Delete(index); // not kept: a corrected index is downloaded next time
            File.Delete(FileDownloader.ChecksumPath(index));
            throw;
        }
        foreach (string shard in shards)
            await DownloadAsync(repository, shard).ConfigureAwait(false);
    }

    // Whether the weights are complete in the cache: model.safetensors, or the index and every shard it names.
    private static bool CachedWeights(string folder, string modelId)
    {
        string index = Path.Combine(folder, ShardIndex.FileName);
        if (!File.Exists(index))
            return File.Exists(Path.Combine(folder, SingleWeightsFile));
        try
        {
            return ShardIndex.ReadShardFiles(index, modelId).All(shard => File.Exists(Path.Combine(folder, shard)));
        }
        catch (DownloadException)
        {
            return false; // the download reads it again and says what is wrong
        }
    }

    // A config.json without model_type (or that is not JSON) is taken for a GPT-2, as before families existed: the loader
    // reports what is wrong with it.
    private static bool IsGpt2(string configPath)
    {
        try
        {
            using JsonDocument config = JsonDocument.Parse(File.ReadAllBytes(configPath));
            return config.RootElement.ValueKind != JsonValueKind.Object
                || !config.RootElement.TryGetProperty("model_type", out JsonElement type) || type.ValueKind != JsonValueKind.String
                || type.GetString() == "gpt2";
        }
        catch (JsonException)
        {
            return true;
        }
    }

    // The Hub answers a HEAD of a large (LFS) file with its SHA-256 in X-Linked-Etag and its size in X-Linked-Size,
    // before redirecting to storage; for other files it publishes neither (a git ETag is no SHA-256). A gated or private
    // repository answers 401 or 403, which ends the download with what to do.
    private async Task<Published> ProbeAsync(Repository repository, string file)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Head, UrlOf(repository, file));
            request.Headers.Authorization = _authorization;
            using HttpResponseMessage response = await MetadataClient.Value.SendAsync(request, repository.CancellationToken).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw AccessRefused(repository.Id, response);
            string? sha256 = null;
            foreach (string header in new[] { "X-Linked-Etag", "ETag" })
            {
                if (sha256 is null && response.Headers.TryGetValues(header, out var values) && values.First().Trim('"') is var tag
                    && tag.Length == 64 && tag.All(Uri.IsHexDigit))
                    sha256 = tag.ToLowerInvariant();
            }
            long? size = response.Headers.TryGetValues("X-Linked-Size", out var sizes)
                && long.TryParse(sizes.First(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long bytes) ? bytes : null;
            return new Published(response.StatusCode, sha256, size);
        }
        catch (HttpRequestException)
        {
            return new Published(null, null, null); // unreachable: the download itself reports the problem
        }
    }

    private DownloadException AccessRefused(string modelId, HttpResponseMessage response)
    {
        var page = new Uri(Endpoint, modelId);
        bool notFound = response.Headers.TryGetValues("X-Error-Code", out var codes) && codes.Contains("RepositoryNotFound");
        string what = notFound
            ? $"The Hugging Face Hub has no model {modelId} that this request may see ({(int)response.StatusCode}): check the id, or, for a private model, set HF_TOKEN to an access token of an account that can read it."
            : $"The Hugging Face Hub refused access to {modelId} ({(int)response.StatusCode} {response.ReasonPhrase}): it is a gated or private model.";
        string fix = _authorization is null
            ? $" To download it, sign in, accept its license on {page}, create an access token (huggingface.co/settings/tokens) and set the HF_TOKEN environment variable to it (or pass it to {nameof(HuggingFaceHub)})."
            : $" The access token sent (HF_TOKEN, or the one given to {nameof(HuggingFaceHub)}) was refused: accept the license on {page} with the account the token belongs to (access may take a while to be granted), or check that HF_TOKEN holds a valid token with read access.";
        return new DownloadException(notFound ? what : what + fix);
    }
}
