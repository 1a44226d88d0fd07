using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// How a fine-tuning trainer runs its task through the <see cref="TrainingLoop"/>: resumed from the newest checkpoint of
/// its directory when the options ask to resume and there is one, with the trainer's events passed on, and the model left
/// in evaluation mode.
/// </summary>
internal static class FineTuningRun
{
    public static TrainingEvaluation Run<TBatch>(nn.Module model, FineTuningOptions options, ITrainingTask<TBatch> task,
        Action<TrainingStep> onStep, Action<TrainingEvaluation> onEvaluation, CancellationToken cancellationToken)
    {
        using var loop = new TrainingLoop(model, options);
        if (options.Resume && options.CheckpointDirectory is string directory && File.Exists(Path.Combine(directory, TrainingCheckpoint.LatestFileName)))
        {
            string folder = TrainingLoop.LoadWeights(model, directory);
            loop.Restore(folder);
        }
        loop.StepCompleted += onStep;
        loop.Evaluated += onEvaluation;
        TrainingEvaluation final = loop.Run(task, cancellationToken);
        model.eval();
        return final;
    }
}
