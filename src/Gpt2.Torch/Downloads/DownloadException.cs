namespace Gpt2.Torch.Downloads;

/// <summary>A file could not be downloaded, or arrived corrupt.</summary>
public sealed class DownloadException : IOException
{
    /// <summary>Creates the exception.</summary>
    public DownloadException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
