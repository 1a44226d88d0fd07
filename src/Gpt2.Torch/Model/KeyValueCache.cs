using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

/// <summary>
/// Keys and values of the tokens a <see cref="Gpt2Model"/> has already seen, one pair per layer (the key/value heads, fewer than the query heads under grouped-query attention), so that
/// decoding feeds only the new token. Storage is allocated once at full capacity and filled in place.
/// </summary>
public sealed class KeyValueCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    internal KeyValueCache(LanguageModelConfig config, int batchSize, int capacity, Device device, ScalarType dtype)
    {
        OptionChecks.AtLeast(batchSize, 1, nameof(batchSize), "1");
        OptionChecks.InRange(capacity, 1, config.ContextLength, nameof(capacity), $"{config.ContextLength}, the context length");
        BatchSize = batchSize;
        Capacity = capacity;
        long[] shape = [batchSize, config.KeyValueHeadCount, capacity, config.HeadSize];
        _keys = new Tensor[config.LayerCount];
        _values = new Tensor[config.LayerCount];
        for (int layer = 0; layer < config.LayerCount; layer++)
        {
            _keys[layer] = zeros(shape, dtype, device).DetachFromDisposeScope();
            _values[layer] = zeros(shape, dtype, device).DetachFromDisposeScope();
        }
    }

    /// <summary>Sequences the cache holds.</summary>
    public int BatchSize { get; }

    /// <summary>Most tokens the cache holds.</summary>
    public int Capacity { get; }

    /// <summary>Tokens cached so far.</summary>
    public long Length { get; private set; }

    /// <summary>Forgets every cached token, keeping the storage.</summary>
    public void Reset() => Length = 0;

    /// <summary>Writes the new tokens' keys and values after the cached ones; returns all of them.</summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        long length = keys.shape[2];
        if (Length + length > Capacity)
            throw new InvalidOperationException($"The cache holds {Capacity} tokens; {Length} are cached and {length} more do not fit.");
        _keys[layer].narrow(2, Length, length).copy_(keys);
        _values[layer].narrow(2, Length, length).copy_(values);
        return (_keys[layer].narrow(2, 0, Length + length), _values[layer].narrow(2, 0, Length + length));
    }

    /// <summary>Forgets the first <paramref name="count"/> cached tokens of every sequence, keeping the others in order.</summary>
    internal void DropFirst(long count)
    {
        if (count < 0 || count > Length)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Only {Length} tokens are cached.");
        long kept = Length - count;
        if (count > 0 && kept > 0)
        {
            foreach (Tensor tensor in _keys.Concat(_values))
            {
                using Tensor moved = tensor.narrow(2, count, kept).clone();
                tensor.narrow(2, 0, kept).copy_(moved);
            }
        }
        Length = kept;
    }

    /// <summary>Replaces the last <c>source.Length</c> cached tokens of the sequences <paramref name="rows"/> with every token of <paramref name="source"/>.</summary>
    internal void OverwriteLast(Tensor rows, KeyValueCache source)
    {
        long length = source.Length;
        if (length > Length || source.BatchSize != rows.shape[0])
            throw new ArgumentException($"{length} tokens of {source.BatchSize} sequences cannot replace the last tokens of {rows.shape[0]} rows of a cache holding {Length}.");
        for (int layer = 0; layer < _keys.Length; layer++)
        {
            _keys[layer].narrow(2, Length - length, length).index_copy_(0, rows, source._keys[layer].narrow(2, 0, length));
            _values[layer].narrow(2, Length - length, length).index_copy_(0, rows, source._values[layer].narrow(2, 0, length));
        }
    }

    /// <summary>Counts the tokens of the last forward pass as cached (after every layer appended them).</summary>
    internal void Advance(long length) => Length += length;

    /// <summary>
    /// A new cache of <paramref name="capacity"/> positions holding, in order, the rows <paramref name="rows"/> of
    /// <paramref name="source"/> and then the <paramref name="joining"/> rows (a row of a prefill cache and how many of its
    /// last positions hold real tokens), all right-aligned at <paramref name="length"/> positions: a source row keeps its
    /// distance from the end, and a joining row's tokens take the last positions. Positions before a row's tokens are
    /// left as zeros (the caller masks them out).
    /// </summary>
    internal static KeyValueCache Compose(LanguageModelConfig config, int capacity, Device device, ScalarType dtype, KeyValueCache? source, Tensor? rows,
        long sourceFirst, IReadOnlyList<(KeyValueCache Cache, int Row, long Count)> joining, long length)
    {
        int kept = rows is null ? 0 : (int)rows.shape[0];
        var result = new KeyValueCache(config, kept + joining.Count, capacity, device, dtype) { Length = length };
        for (int layer = 0; layer < config.LayerCount; layer++)
        {
            if (kept > 0)
            {
                long span = source!.Length - sourceFirst;
                result._keys[layer].narrow(0, 0, kept).narrow(2, length - span, span)
                    .copy_(source._keys[layer].index_select(0, rows!).narrow(2, sourceFirst, span));
                result._values[layer].narrow(0, 0, kept).narrow(2, length - span, span)
                    .copy_(source._values[layer].index_select(0, rows!).narrow(2, sourceFirst, span));
            }
            for (int j = 0; j < joining.Count; j++)
            {
                (KeyValueCache cache, int row, long span) = joining[j];
                long first = cache.Length - span;
                result._keys[layer].narrow(0, kept + j, 1).narrow(2, length - span, span).copy_(cache._keys[layer].narrow(0, row, 1).narrow(2, first, span));
                result._values[layer].narrow(0, kept + j, 1).narrow(2, length - span, span).copy_(cache._values[layer].narrow(0, row, 1).narrow(2, first, span));
            }
        }
        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (Tensor tensor in _keys.Concat(_values))
            tensor.Dispose();
    }
}
