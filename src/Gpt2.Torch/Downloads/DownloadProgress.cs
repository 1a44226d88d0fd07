namespace Gpt2.Torch.Downloads;

/// <summary>How far a download has come.</summary>
/// <param name="FileName">The file being downloaded.</param>
/// <param name="BytesReceived">Bytes on disk so far, resumed bytes included.</param>
/// <param name="TotalBytes">The file's size, when the server said.</param>
public readonly record struct DownloadProgress(string FileName, long BytesReceived, long? TotalBytes)
{
    /// <summary>
    /// What the finished file is checked against before it enters the cache. <see cref="DownloadCheck.SizeOnly"/> says
    /// that no checksum was published (a corrupt copy of the right size would pass); show it to the user.
    /// </summary>
    public DownloadCheck Check { get; init; }
}

/// <summary>What a download is checked against before it is moved into the cache.</summary>
public enum DownloadCheck
{
    /// <summary>Nothing: the server published neither a checksum nor a size.</summary>
    None,

    /// <summary>Only the size (the published size, or the server's Content-Length): no checksum was published.</summary>
    SizeOnly,

    /// <summary>The published SHA-256 (and the size).</summary>
    Sha256,
}
