using Gpt2.Torch.IO;

namespace Gpt2.Torch.Training;

/// <summary>
/// The layout of a checkpoint directory: one complete folder per checkpoint (<c>step-000045</c>) and a <c>latest</c>
/// file naming the newest. A checkpoint is written into a temporary folder, renamed into place, and only then named in
/// <c>latest</c>; older ones are deleted last. A crash at any moment leaves <c>latest</c> naming a complete checkpoint.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>The file naming the newest checkpoint folder.</summary>
    internal const string LatestFileName = "latest";

    /// <summary>The trainer's state in a checkpoint folder: steps, data position, options and evaluations (JSON).</summary>
    internal const string StateFileName = "trainer_state.json";

    /// <summary>The optimizer's moments and the random generator's state in a checkpoint folder.</summary>
    internal const string TrainingTensorsFileName = "training.safetensors";

    /// <summary>The name of the folder of the checkpoint taken after <paramref name="steps"/> steps.</summary>
    internal static string FolderName(long steps) => $"step-{steps:D6}";

    /// <summary>
    /// The checkpoint folder that <paramref name="path"/> means: the path itself when it is a checkpoint folder,
    /// or the folder named by its <c>latest</c> file when it is a checkpoint directory.
    /// </summary>
    public static string Locate(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(Path.Combine(path, StateFileName)))
            return Path.GetFullPath(path);
        string latest = Path.Combine(path, LatestFileName);
        if (File.Exists(latest))
        {
            string folder = Path.Combine(path, File.ReadAllText(latest).Trim());
            if (File.Exists(Path.Combine(folder, StateFileName)))
                return Path.GetFullPath(folder);
            throw new InvalidDataException($"{latest} names '{Path.GetFileName(folder)}', which is not a complete checkpoint folder; pass one of the step-NNNNNN folders instead.");
        }
        throw new FileNotFoundException(
            $"{path} holds no training checkpoint: it has neither {StateFileName} (a checkpoint folder) nor {LatestFileName} (a checkpoint directory).", path);
    }

    /// <summary>
    /// Writes a checkpoint as folder <paramref name="name"/> of <paramref name="directory"/>: <paramref name="write"/>
    /// fills a temporary folder, which is then renamed, named in <c>latest</c>, and left as the only checkpoint.
    /// </summary>
    /// <returns>The checkpoint folder.</returns>
    internal static string Commit(string directory, string name, Action<string> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        Directory.CreateDirectory(directory);
        string folder = Path.GetFullPath(Path.Combine(directory, name));
        string temporary = Path.Combine(directory, $".{name}.{Guid.NewGuid():N}.tmp");
        string replaced = temporary + ".old";
        try
        {
            write(temporary);
            if (Directory.Exists(folder))
                Directory.Move(folder, replaced); // an earlier run's checkpoint of the same step: out of the way, deleted below
            Directory.Move(temporary, folder);
        }
        catch
        {
            if (Directory.Exists(temporary))
                Directory.Delete(temporary, recursive: true);
            throw;
        }
        AtomicFile.WriteAllText(Path.Combine(directory, LatestFileName), name);
        if (Directory.Exists(replaced))
            Directory.Delete(replaced, recursive: true);
        foreach (string old in Directory.EnumerateDirectories(directory, "step-*"))
            if (!Path.GetFullPath(old).Equals(folder, StringComparison.Ordinal))
                Directory.Delete(old, recursive: true);
        return folder;
    }
}
