namespace Gpt2.Torch.Downloads;

/// <summary>How far a download has come.</summary>
/// <param name="FileName">The file being downloaded.</param>
/// <param name="BytesReceived">Bytes on disk so far, resumed bytes included.</param>
/// <param name="TotalBytes">The file's size, when the server said.</param>
public readonly record struct DownloadProgress(string FileName, long BytesReceived, long? TotalBytes);
