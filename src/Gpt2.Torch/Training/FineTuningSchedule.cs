using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>One optimizer step of a fine-tuning run: where it stands and the rows it trains on.</summary>
internal readonly record struct FineTuningStep<T>(int Epoch, long Step, long TotalSteps, T[] Rows, bool Evaluate);

/// <summary>
/// The book's fine-tuning loop order: seeded shuffling each epoch, full batches only (the last, smaller one is dropped
/// unless it is the only one), evaluation every <see cref="FineTuningOptions.EvaluationInterval"/> steps and after the last.
/// </summary>
internal static class FineTuningSchedule
{
    public static IEnumerable<FineTuningStep<T>> Steps<T>(IReadOnlyList<T> train, FineTuningOptions options, CancellationToken cancellationToken)
    {
        random.manual_seed(options.Seed);
        var shuffler = new Random(options.Seed);
        int batchesPerEpoch = Math.Max(1, train.Count / options.BatchSize);
        long totalSteps = (long)batchesPerEpoch * options.Epochs, step = 0;
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            int[] order = [.. Enumerable.Range(0, train.Count)];
            shuffler.Shuffle(order);
            for (int batch = 0; batch < batchesPerEpoch; batch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                step++;
                bool evaluate = step == totalSteps || (options.EvaluationInterval > 0 ? step % options.EvaluationInterval == 0 : batch == batchesPerEpoch - 1);
                yield return new FineTuningStep<T>(epoch, step, totalSteps,
                    [.. order.Skip(batch * options.BatchSize).Take(options.BatchSize).Select(i => train[i])], evaluate);
            }
        }
    }
}
