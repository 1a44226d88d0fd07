using static TorchSharp.torch;

namespace Gpt2.Torch.Data;

/// <summary>
/// Batches of <see cref="NextTokenWindows"/> as int64 tensors [batch, max length] (the book's DataLoader):
/// in order or shuffled with a seed (a new order each pass), with or without the last, smaller batch.
/// </summary>
public sealed class NextTokenBatches
{
    private readonly NextTokenWindows _windows;
    private readonly Random? _shuffler;

    /// <summary>Creates the batches.</summary>
    /// <param name="windows">The windows to batch.</param>
    /// <param name="batchSize">Windows per batch.</param>
    /// <param name="shuffle">Whether each pass visits the windows in a new random order.</param>
    /// <param name="seed">Seed of the shuffling, for reproducible runs.</param>
    /// <param name="dropLast">Whether to skip a last batch smaller than <paramref name="batchSize"/>.</param>
    /// <param name="device">Where the tensors go; the CPU when null.</param>
    public NextTokenBatches(NextTokenWindows windows, int batchSize, bool shuffle = false, int seed = 0, bool dropLast = true, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _windows = windows;
        BatchSize = batchSize;
        DropLast = dropLast;
        Device = device ?? CPU;
        _shuffler = shuffle ? new Random(seed) : null;
    }

    /// <summary>Windows per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Whether a smaller last batch is skipped.</summary>
    public bool DropLast { get; }

    /// <summary>Where the batches are placed.</summary>
    public Device Device { get; }

    /// <summary>Batches per pass.</summary>
    public int Count => DropLast ? _windows.Count / BatchSize : (_windows.Count + BatchSize - 1) / BatchSize;

    /// <summary>One pass over the windows. The caller owns (and disposes) each batch's tensors.</summary>
    public IEnumerable<(Tensor Inputs, Tensor Targets)> Batches()
    {
        int[] order = [.. Enumerable.Range(0, _windows.Count)];
        _shuffler?.Shuffle(order);
        for (int batch = 0; batch < Count; batch++)
        {
            int size = Math.Min(BatchSize, order.Length - batch * BatchSize);
            var inputs = new long[size * _windows.MaxLength];
            var targets = new long[size * _windows.MaxLength];
            for (int row = 0; row < size; row++)
            {
                (int[] input, int[] target) = _windows[order[batch * BatchSize + row]];
                for (int i = 0; i < input.Length; i++)
                {
                    inputs[row * _windows.MaxLength + i] = input[i];
                    targets[row * _windows.MaxLength + i] = target[i];
                }
            }
            yield return (tensor(inputs, [size, _windows.MaxLength], int64).to(Device), tensor(targets, [size, _windows.MaxLength], int64).to(Device));
        }
    }
}
