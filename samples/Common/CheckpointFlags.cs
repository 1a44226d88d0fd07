using System.CommandLine;

namespace Gpt2MLNet.Samples;

/// <summary>
/// The training samples' checkpoint flags: <c>--checkpoints DIR</c> (default: the output folder's <c>checkpoints</c>),
/// <c>--no-checkpoints</c> and <c>--resume</c>, read into the two options every trainer takes
/// (<c>CheckpointDirectory</c>, <c>ResumeFromCheckpoint</c>).
/// </summary>
/// <param name="resumeDescription">What <c>--resume</c> continues with, in the sample's words.</param>
public sealed class CheckpointFlags(string resumeDescription)
{
    /// <summary><c>--checkpoints DIR</c>.</summary>
    public Option<string?> Directory { get; } = new("--checkpoints") { Description = "Where checkpoints go, one at every evaluation (default: the output folder's checkpoints folder)." };

    /// <summary><c>--no-checkpoints</c>.</summary>
    public Option<bool> None { get; } = new("--no-checkpoints") { Description = "Write no checkpoints (a kill then loses the run)." };

    /// <summary><c>--resume</c>.</summary>
    public Option<bool> Resume { get; } = new("--resume") { Description = resumeDescription };

    /// <summary>The three flags, to add to a command.</summary>
    public IEnumerable<Option> All => [Directory, None, Resume];

    /// <summary>
    /// Reads the checkpoint directory (null with <c>--no-checkpoints</c>) and whether to resume; false, with the reason on
    /// standard error, for <c>--resume</c> with <c>--no-checkpoints</c>.
    /// </summary>
    public bool TryRead(ParseResult result, string output, out string? directory, out bool resume)
    {
        resume = result.GetValue(Resume);
        directory = result.GetValue(None) ? null : result.GetValue(Directory) ?? Path.Combine(output, "checkpoints");
        if (resume && directory is null)
        {
            Console.Error.WriteLine("--resume continues from a checkpoint; it cannot go with --no-checkpoints.");
            return false;
        }
        return true;
    }
}
