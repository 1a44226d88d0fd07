using System.Globalization;
using Gpt2.Torch.IO;

namespace Gpt2.Torch.Training;

/// <summary>
/// The layout of a checkpoint directory: one complete folder per checkpoint (<c>step-000045</c>) and a <c>latest</c>
/// file naming the newest. A checkpoint is written into a temporary folder, renamed into place, and only then named in
/// <c>latest</c>; older ones are deleted last (each renamed out of the <c>step-</c> names first). A crash at any moment
/// leaves <c>latest</c> naming a complete checkpoint. One run writes to a directory at a time.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>The file naming the newest checkpoint folder.</summary>
    internal const string LatestFileName = "latest";

    /// <summary>The trainer's state in a checkpoint folder: steps, data position, options and evaluations (JSON).</summary>
    internal const string StateFileName = "trainer_state.json";

    /// <summary>The optimizer's moments and the random generator's state in a checkpoint folder.</summary>
    internal const string TrainingTensorsFileName = "training.safetensors";

    private const string FolderPrefix = "step-";
    private const string TemporarySuffix = ".tmp";

    /// <summary>The name of the folder of the checkpoint taken after <paramref name="steps"/> steps.</summary>
    internal static string FolderName(long steps) => $"{FolderPrefix}{steps:D6}";

    /// <summary>Whether <paramref name="directory"/> holds a checkpoint to resume from (a <c>latest</c> file).</summary>
    public static bool Exists(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return File.Exists(Path.Combine(directory, LatestFileName));
    }

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
    /// The options the run saved in <paramref name="path"/> (a checkpoint folder, or a checkpoint directory's newest) was
    /// trained with, as <typeparamref name="TOptions"/>: what a resumed run must be given again.
    /// </summary>
    public static TOptions ReadOptions<TOptions>(string path) where TOptions : TrainingOptions =>
        TrainingLoop.ReadOptions<TOptions>(Locate(path));

    /// <summary>
    /// Writes the checkpoint taken after <paramref name="steps"/> steps into <paramref name="directory"/>:
    /// <paramref name="write"/> fills a temporary folder, which is then renamed and named in <c>latest</c>. Then the
    /// directory keeps the newest <paramref name="keep"/> checkpoints of steps up to <paramref name="steps"/>, and none of
    /// later steps (those belong to a run this one replaced); leftovers of writes that a crash interrupted go too.
    /// </summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="steps">The steps the checkpoint holds.</param>
    /// <param name="keep">How many checkpoints the directory keeps, this one included.</param>
    /// <param name="write">Writes the checkpoint's files into the folder it is given.</param>
    /// <param name="replacesEarlierRun">The first checkpoint of a run that did not resume from this directory: every other checkpoint there is another run's, and goes.</param>
    /// <returns>The checkpoint folder.</returns>
    internal static string Commit(string directory, long steps, int keep, Action<string> write, bool replacesEarlierRun = false)
    {
        ArgumentNullException.ThrowIfNull(write);
        OptionChecks.AtLeast(keep, 1, nameof(TrainingOptions.KeepCheckpoints), "3");
        Directory.CreateDirectory(directory);
        string name = FolderName(steps);
        string folder = Path.GetFullPath(Path.Combine(directory, name));
        string temporary = Path.Combine(directory, $".{name}.{Guid.NewGuid():N}{TemporarySuffix}");
        try
        {
            write(temporary);
            if (Directory.Exists(folder))
                Remove(folder); // an earlier run's checkpoint of the same step; `latest` cannot name it while this run writes
            Directory.Move(temporary, folder);
        }
        catch
        {
            if (Directory.Exists(temporary))
                Directory.Delete(temporary, recursive: true);
            throw;
        }
        AtomicFile.WriteAllText(Path.Combine(directory, LatestFileName), name);

        var checkpoints = Directory.EnumerateDirectories(directory, FolderPrefix + "*")
            .Select(path => (Path: path, Steps: StepsOf(path)))
            .Where(c => c.Steps is not null)
            .OrderByDescending(c => c.Steps)
            .ToList();
        int kept = 0;
        foreach ((string path, long? checkpointSteps) in checkpoints)
        {
            bool isLatest = Path.GetFullPath(path).Equals(folder, StringComparison.Ordinal);
            if (isLatest || (!replacesEarlierRun && checkpointSteps < steps && ++kept < keep))
                continue;
            Remove(path);
        }
        foreach (string leftover in Directory.EnumerateDirectories(directory, $".{FolderPrefix}*{TemporarySuffix}*"))
            if (!leftover.Equals(temporary, StringComparison.Ordinal))
                Directory.Delete(leftover, recursive: true);
        return folder;
    }

    // The steps a checkpoint folder's name says, or null for another folder.
    private static long? StepsOf(string path)
    {
        string name = Path.GetFileName(path);
        return long.TryParse(name.AsSpan(FolderPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long steps) ? steps : null;
    }

    // Renamed out of the step- names first, so that a crash while deleting never leaves a half-deleted step folder.
    private static void Remove(string checkpoint)
    {
        string doomed = Path.Combine(Path.GetDirectoryName(checkpoint)!, $".{Path.GetFileName(checkpoint)}.{Guid.NewGuid():N}{TemporarySuffix}.old");
        Directory.Move(checkpoint, doomed);
        Directory.Delete(doomed, recursive: true);
    }
}
