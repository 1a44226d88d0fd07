using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>The host's decode steps in TorchSharp: a <see cref="KeyValueCache"/> and the mask of each row's real positions.</summary>
internal sealed class TorchContinuousBatchEngine(CausalLanguageModel model) : IContinuousBatchEngine
{
    private KeyValueCache? _cache;
    private Tensor? _mask;     // [rows, capacity]: which cached positions hold each row's real tokens

    /// <inheritdoc/>
    public long Length => _cache?.Length ?? 0;

    /// <inheritdoc/>
    public Tensor Prefill(IReadOnlyList<int[]> windows, out IDisposable prefillCache)
    {
        int rows = windows.Count, width = windows.Max(window => window.Length);
        var ids = new long[rows * width];
        var real = new bool[rows * width];
        for (int row = 0; row < rows; row++)
        {
            int offset = row * width + width - windows[row].Length;
            for (int t = 0; t < windows[row].Length; t++)
            {
                ids[offset + t] = windows[row][t];
                real[offset + t] = true;
            }
        }
        KeyValueCache cache = model.CreateCache(rows, width);
        try
        {
            using Tensor idTensor = tensor(ids, [rows, width], int64, model.Device);
            using Tensor? mask = windows.Any(window => window.Length < width) ? tensor(real, [rows, width], @bool, model.Device) : null;
            Tensor hidden = model.ComputeHiddenStates(idTensor, cache, mask);
            Tensor logits = model.ComputeLogits(hidden.narrow(1, width - 1, 1)).squeeze(1);
            prefillCache = cache;
            return logits;
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Compose(int[] kept, long[] keptCached, IReadOnlyList<(IDisposable Cache, int Row)> joining, long[] joiningCached, long length, long capacity)
    {
        int rows = kept.Length + joining.Count;
        KeyValueCache? next = null;
        Tensor? nextMask = null;
        try
        {
            if (rows > 0)
            {
                long first = kept.Length == 0 ? 0 : _cache!.Length - keptCached.Max();
                using Tensor keptRows = tensor(kept.Select(row => (long)row).ToArray(), int64, model.Device);
                next = KeyValueCache.Compose(model.Config, (int)capacity, model.Device, model.TokenEmbedding.dtype, _cache,
                    kept.Length == 0 ? null : keptRows, first,
                    [.. joining.Select((j, i) => ((KeyValueCache)j.Cache, j.Row, joiningCached[i]))], length);
                var mask = new bool[rows * capacity];
                int index = 0;
                foreach (long cached in keptCached.Concat(joiningCached))
                {
                    for (long t = length - cached; t < length; t++)
                        mask[index * capacity + t] = true;
                    index++;
                }
                nextMask = tensor(mask, [rows, capacity], @bool, model.Device).DetachFromDisposeScope();
            }
        }
        catch
        {
            next?.Dispose();
            nextMask?.Dispose();
            throw;
        }
        Reset();
        _cache = next;
        _mask = nextMask;
    }

    /// <inheritdoc/>
    public Tensor Step(long[] pending, long[] cached)
    {
        long past = _cache!.Length;
        if (past >= _cache.Capacity)
            throw new InvalidOperationException($"The batch's keys and values are full ({past} positions); the decode loop composes a larger cache before this.");
        _mask!.narrow(1, past, 1).fill_(true);
        using Tensor ids = tensor(pending, [pending.Length, 1], int64, model.Device);
        // Without padding (one row, or rows of equal lengths) the mask is all true: leaving it out keeps the unmasked attention kernel.
        bool padded = cached.Any(count => count != past);
        Tensor states = model.ComputeHiddenStates(ids, _cache, padded ? _mask.narrow(1, 0, past + 1) : null);
        return model.ComputeLogits(states).squeeze(1);
    }

    /// <inheritdoc/>
    public void Reset()
    {
        _cache?.Dispose();
        _cache = null;
        _mask?.Dispose();
        _mask = null;
    }

    /// <inheritdoc/>
    public void Dispose() => Reset();
}
