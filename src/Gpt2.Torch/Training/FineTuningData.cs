namespace Gpt2.Torch.Training;

/// <summary>
/// The book's fine-tuning batches: rows shuffled each epoch by a generator seeded once with the run's seed, full
/// batches only (the last, smaller one is dropped unless it is the only one). Epoch e's order is the (e + 1)-th shuffle,
/// so a resumed run finds it without the epochs before.
/// </summary>
internal sealed class FineTuningData<T>(IReadOnlyList<T> rows, int batchSize, int seed)
{
    public int BatchesPerEpoch { get; } = Math.Max(1, rows.Count / batchSize);

    public string Description => $"{{ Rows = {rows.Count}, BatchSize = {batchSize}, Seed = {seed} }}";

    public IEnumerable<T[]> Batches(int epoch, int skip)
    {
        var shuffler = new Random(seed);
        int[] order = [];
        for (int e = 0; e <= epoch; e++)
        {
            order = [.. Enumerable.Range(0, rows.Count)];
            shuffler.Shuffle(order);
        }
        for (int batch = skip; batch < BatchesPerEpoch; batch++)
            yield return [.. order.Skip(batch * batchSize).Take(batchSize).Select(i => rows[i])];
    }
}
