using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Data;

/// <summary>
/// Batches of <see cref="NextTokenWindows"/> as int64 tensors [batch, max length] (the book's DataLoader):
/// in order or shuffled with a seed, with or without the last, smaller batch. A shuffled epoch's order depends only
/// on the seed and the epoch number, so any epoch can be replayed (a resumed training run relies on it).
/// </summary>
public sealed class NextTokenBatches
{
    private readonly NextTokenWindows _windows;

    /// <summary>Creates the batches.</summary>
    /// <param name="windows">The windows to batch.</param>
    /// <param name="batchSize">Windows per batch.</param>
    /// <param name="shuffle">Whether each epoch visits the windows in its own random order.</param>
    /// <param name="seed">Seed of the shuffling, for reproducible runs.</param>
    /// <param name="dropLast">Whether to skip a last batch smaller than <paramref name="batchSize"/>.</param>
    /// <param name="device">Where the tensors go; the CPU when null.</param>
    /// <param name="vocabularySize">
    /// The model's vocabulary size (<c>model.Config.VocabSize</c>): each batch's ids are checked against it on the host as the
    /// batch is built, since the model does not check ids itself. Null leaves them unchecked.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">While enumerating <see cref="Batches"/>: a window holds an id outside [0, <paramref name="vocabularySize"/>).</exception>
    public NextTokenBatches(NextTokenWindows windows, int batchSize, bool shuffle = false, int seed = 0, bool dropLast = true, Device? device = null,
        int? vocabularySize = null)
    {
        ArgumentNullException.ThrowIfNull(windows);
        OptionChecks.AtLeast(batchSize, 1, nameof(batchSize), "2");
        _windows = windows;
        BatchSize = batchSize;
        DropLast = dropLast;
        Device = device ?? CPU;
        Shuffle = shuffle;
        Seed = seed;
        if (vocabularySize is int size)
            OptionChecks.AtLeast(size, 1, nameof(vocabularySize), "50257, GPT-2's");
        VocabularySize = vocabularySize;
    }

    /// <summary>The vocabulary size the ids are checked against, or null when they are not checked.</summary>
    public int? VocabularySize { get; }

    /// <summary>Windows per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch visits the windows in its own random order.</summary>
    public bool Shuffle { get; }

    /// <summary>Seed of the shuffling.</summary>
    public int Seed { get; }

    /// <summary>Whether a smaller last batch is skipped.</summary>
    public bool DropLast { get; }

    /// <summary>Where the batches are placed.</summary>
    public Device Device { get; }

    /// <summary>Batches per pass.</summary>
    public int Count => DropLast ? _windows.Count / BatchSize : (_windows.Count + BatchSize - 1) / BatchSize;

    /// <summary>One pass over the windows. The caller owns (and disposes) each batch's tensors.</summary>
    /// <param name="epoch">Which pass (from 0): with shuffling, each epoch has its own order, the same on every call.</param>
    /// <param name="skip">Batches to leave out at the start of the pass, without building them.</param>
    public IEnumerable<(Tensor Inputs, Tensor Targets)> Batches(int epoch = 0, int skip = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfNegative(skip);
        return BatchesFrom(epoch, skip);
    }

    private IEnumerable<(Tensor Inputs, Tensor Targets)> BatchesFrom(int epoch, int skip)
    {
        int[] order = [.. Enumerable.Range(0, _windows.Count)];
        if (Shuffle)
            new Random(unchecked(Seed * 1_000_003 + epoch)).Shuffle(order);
        for (int batch = skip; batch < Count; batch++)
        {
            int size = Math.Min(BatchSize, order.Length - batch * BatchSize);
            var inputs = new long[size * _windows.MaxLength];
            var targets = new long[size * _windows.MaxLength];
            for (int row = 0; row < size; row++)
            {
                int window = order[batch * BatchSize + row];
                (int[] input, int[] target) = _windows[window];
                if (VocabularySize is int vocabularySize)
                {
                    TokenIds.Check(input, vocabularySize, "windows", $"window {window}'s input");
                    TokenIds.Check(target, vocabularySize, "windows", $"window {window}'s target");
                }
                for (int i = 0; i < input.Length; i++)
                {
                    inputs[row * _windows.MaxLength + i] = input[i];
                    targets[row * _windows.MaxLength + i] = target[i];
                }
            }
            yield return (tensor(inputs, [size, _windows.MaxLength], int64, Device), tensor(targets, [size, _windows.MaxLength], int64, Device));
        }
    }
}
