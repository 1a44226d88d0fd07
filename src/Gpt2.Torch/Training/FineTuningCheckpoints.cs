namespace Gpt2.Torch.Training;

/// <summary>Where a fine-tuning run resumes from: the newest checkpoint of its directory, when it asks to resume and there is one.</summary>
internal static class FineTuningCheckpoints
{
    public static string? ResumeFrom(FineTuningOptions options) =>
        options.Resume && options.CheckpointDirectory is string directory && File.Exists(Path.Combine(directory, TrainingCheckpoint.LatestFileName))
            ? TrainingCheckpoint.Locate(directory)
            : null;
}
