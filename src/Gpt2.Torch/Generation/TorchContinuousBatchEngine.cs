using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>A continuous batch's forward passes in TorchSharp: a <see cref="KeyValueCache"/> of the context's capacity and the mask of each row's real positions.</summary>
internal sealed class TorchContinuousBatchEngine(Gpt2Model model) : IContinuousBatchEngine
{
    private KeyValueCache? _cache;
    private Tensor? _mask;     // [rows, context]: which cached positions hold each row's real tokens

    /// <inheritdoc/>
    public long Length => _cache?.Length ?? 0;

    /// <inheritdoc/>
    public Tensor Prefill(int[] prompt, out IDisposable promptCache)
    {
        KeyValueCache own = model.CreateCache(1, prompt.Length);
        try
        {
            using Tensor ids = tensor(prompt.Select(t => (long)t).ToArray(), [1, prompt.Length], int64, model.Device);
            Tensor hidden = model.ComputeHiddenStates(ids, own);
            Tensor logits = model.ComputeLogits(hidden.narrow(1, hidden.shape[1] - 1, 1)).squeeze(1);
            promptCache = own;
            return logits;
        }
        catch
        {
            own.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Compose(int[] kept, long[] keptCached, IReadOnlyList<IDisposable> joining, long[] joiningCached, long length)
    {
        int context = model.Config.ContextLength, rows = kept.Length + joining.Count;
        KeyValueCache? next = null;
        Tensor? nextMask = null;
        if (rows > 0)
        {
            long first = kept.Length == 0 ? 0 : _cache!.Length - keptCached.Max();
            using Tensor keptRows = tensor(kept.Select(row => (long)row).ToArray(), int64, model.Device);
            next = KeyValueCache.Compose(model.Config, context, model.Device, model.TokenEmbedding.dtype, _cache,
                kept.Length == 0 ? null : keptRows, first, [.. joining.Cast<KeyValueCache>()], length);
            var mask = new bool[rows * context];
            int index = 0;
            foreach (long cached in keptCached.Concat(joiningCached))
            {
                for (long t = length - cached; t < length; t++)
                    mask[index * context + t] = true;
                index++;
            }
            nextMask = tensor(mask, [rows, context], @bool, model.Device).DetachFromDisposeScope();
        }
        Reset();
        _cache = next;
        _mask = nextMask;
    }

    /// <inheritdoc/>
    public Tensor Step(long[] pending, long[] cached)
    {
        long past = _cache!.Length;
        _mask!.narrow(1, past, 1).fill_(true);
        using Tensor ids = tensor(pending, [pending.Length, 1], int64, model.Device);
        Tensor states = model.ComputeHiddenStates(ids, _cache, _mask.narrow(1, 0, past + 1));
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
