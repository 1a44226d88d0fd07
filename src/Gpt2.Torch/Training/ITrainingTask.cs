using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// What a task gives <see cref="TrainingLoop"/>: its batches, the loss of a batch, and its evaluation. Everything else
/// (zero-grad, accumulation, clipping, the schedule, precision, cadence, checkpoints, progress) is the loop's.
/// </summary>
/// <typeparam name="TBatch">One batch as the task enumerates it; tensors it holds are disposed with the step.</typeparam>
internal interface ITrainingTask<TBatch>
{
    /// <summary>Batches in one epoch (a step takes <see cref="TrainingOptions.GradientAccumulationSteps"/> of them; leftovers at an epoch's end are skipped).</summary>
    int BatchesPerEpoch { get; }

    /// <summary>
    /// What the batches depend on (count, size, shuffling, seed), in words: a resumed run is refused when its task
    /// describes its data differently from the checkpoint's.
    /// </summary>
    string DataDescription { get; }

    /// <summary>The batches of epoch <paramref name="epoch"/> (from 0), from batch <paramref name="skip"/> on; the same for the same arguments, whatever ran before.</summary>
    IEnumerable<TBatch> Batches(int epoch, int skip);

    /// <summary>
    /// The mean loss of <paramref name="batch"/> as a float32 scalar on the model's device, with the model in training
    /// mode (and in the loop's precision), and the input tokens it counts. Called inside a dispose scope; do not read
    /// the loss back (the loop does, at its logging cadence).
    /// </summary>
    (Tensor Loss, long Tokens) Loss(TBatch batch);

    /// <summary>
    /// The task's metrics (names from <see cref="TrainingMetrics"/>), with the model in evaluation mode and gradients off;
    /// <paramref name="trainingLossSinceEvaluation"/> is the mean step loss since the previous evaluation, for tasks
    /// that report it as their training loss. Returns an optional sample (a language model's prompt and continuation).
    /// </summary>
    (IReadOnlyDictionary<string, double> Metrics, int[]? Sample) Evaluate(double trainingLossSinceEvaluation);
}
