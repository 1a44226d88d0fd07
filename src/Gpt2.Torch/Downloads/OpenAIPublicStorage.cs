namespace Gpt2.Torch.Downloads;

/// <summary>
/// Downloads OpenAI's original GPT-2 releases (TensorFlow checkpoints, the files the book uses) from OpenAI's public
/// storage into the local cache. OpenAI publishes no checksums; the checkpoint's own CRC-32C of every tensor is
/// checked when it loads.
/// </summary>
public sealed class OpenAIPublicStorage
{
    private readonly FileDownloader _downloader;

    /// <summary>Creates a client of the storage.</summary>
    /// <param name="downloader">Downloads and caches the files; a default <see cref="FileDownloader"/> when null.</param>
    /// <param name="endpoint">The storage's address; https://openaipublic.blob.core.windows.net/ when null.</param>
    public OpenAIPublicStorage(FileDownloader? downloader = null, Uri? endpoint = null)
    {
        _downloader = downloader ?? new FileDownloader();
        Endpoint = endpoint ?? new Uri("https://openaipublic.blob.core.windows.net/");
    }

    /// <summary>The storage's address.</summary>
    public Uri Endpoint { get; }

    /// <summary>The released sizes.</summary>
    public static IReadOnlyList<string> ModelSizes { get; } = ["124M", "355M", "774M", "1558M"];

    /// <summary>The files downloaded for each size; the weights come last.</summary>
    public static IReadOnlyList<string> ModelFiles { get; } =
        ["checkpoint", "hparams.json", "encoder.json", "vocab.bpe", "model.ckpt.index", "model.ckpt.data-00000-of-00001"];

    /// <summary>Downloads one size's <see cref="ModelFiles"/>; returns the local folder holding them.</summary>
    /// <param name="size">124M, 355M, 774M or 1558M.</param>
    /// <param name="progress">Receives progress reports (bytes received and the total, for a progress bar), or null.</param>
    /// <param name="cancellationToken">Stops the download; a partial file stays for a later resume.</param>
    public async Task<string> DownloadModelAsync(string size, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string name = ModelSizes.FirstOrDefault(known => known.Equals(size, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"'{size}' is neither a local folder nor a released GPT-2 size ({string.Join(", ", ModelSizes)}).", nameof(size));
        string? last = null;
        foreach (string file in ModelFiles)
            last = await _downloader.DownloadAsync(new Uri(Endpoint, $"gpt-2/models/{name}/{file}"), Path.Combine("openai", "gpt-2", name, file),
                progress: progress, cancellationToken: cancellationToken).ConfigureAwait(false);
        return Path.GetDirectoryName(last)!;
    }
}
