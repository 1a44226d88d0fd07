using System.IO.Compression;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// Recognises PyTorch's <c>torch.save</c> files (a pickle, bare or inside a zip as <c>data.pkl</c>) so that they are
/// refused with a useful message: unpickling runs code chosen by whoever wrote the file.
/// </summary>
internal static class PickleCheckpoint
{
    /// <summary>Throws when the file at <paramref name="path"/> is a pickle checkpoint.</summary>
    public static void ThrowIfPickle(string path)
    {
        Span<byte> start = stackalloc byte[4];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        ThrowIfPickle(path, start[..stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false)]);
    }

    /// <summary>Throws when <paramref name="start"/>, a file's first bytes, starts a pickle or a zip.</summary>
    public static void ThrowIfPickle(string path, ReadOnlySpan<byte> start)
    {
        bool pickle = start.Length >= 2 && start[0] == 0x80 && start[1] is >= 2 and <= 5;
        if (!pickle && !(start.Length >= 4 && start[..4].SequenceEqual("PK\u0003\u0004"u8)))
            return;
        if (!pickle && !ZipHoldsPickle(path))
            throw new CheckpointFormatException(path, "this is a zip archive, not a model file.");
        throw new CheckpointFormatException(path,
            "this is a PyTorch pickle checkpoint (torch.save). Pickle files can run arbitrary code when loaded, so they are refused. " +
            "Convert it to safetensors in Python (safetensors.torch.save_file(torch.load(path), \"model.safetensors\"), or " +
            "model.save_pretrained(folder, safe_serialization=True) in transformers) and load the .safetensors file.");
    }

    private static bool ZipHoldsPickle(string path)
    {
        try
        {
            using ZipArchive zip = ZipFile.OpenRead(path);
            return zip.Entries.Any(entry => entry.FullName.EndsWith("data.pkl", StringComparison.Ordinal));
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }
}
