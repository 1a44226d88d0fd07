using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// The host's decode steps in ONNX Runtime (<see cref="OnnxRuntimeDecoding"/>): the batch's keys and values are the last
/// step's present ones; when rows join or leave, each kept row's and each joining row's real positions are copied,
/// right-aligned, into new zeroed buffers on the host. ONNX Runtime's presents grow by themselves, so the capacity a
/// composition asks for needs no room reserved.
/// </summary>
internal sealed class OnnxRuntimeContinuousBatchEngine(OnnxRuntimeDecoderSession decoder) : IContinuousBatchEngine
{
    private OrtValue[]? _pasts;   // per layer [2, rows, heads, Length, head size]
    private int _rows;

    /// <inheritdoc/>
    public long Length { get; private set; }

    /// <inheritdoc/>
    public Tensor Prefill(IReadOnlyList<int[]> windows, out IDisposable prefillCache)
    {
        int rows = windows.Count, width = windows.Max(window => window.Length);
        var ids = new int[rows * width];
        var mask = new int[rows * width];
        var positions = new int[rows * width];
        for (int row = 0; row < rows; row++)
        {
            int padding = width - windows[row].Length;
            for (int t = 0; t < windows[row].Length; t++)
            {
                int i = row * width + padding + t;
                ids[i] = windows[row][t];
                mask[i] = 1;
                positions[i] = t;
            }
        }
        OrtValue[] empty = decoder.EmptyPasts(rows);
        try
        {
            (Tensor logits, OrtValue[] presents) = decoder.Run(rows, ids, positions, mask, width, empty);
            prefillCache = new PrefillCache(presents, rows, width);
            return logits;
        }
        finally
        {
            Free(empty);
        }
    }

    /// <inheritdoc/>
    public void Compose(int[] kept, long[] keptCached, IReadOnlyList<(IDisposable Cache, int Row)> joining, long[] joiningCached, long length, long capacity)
    {
        int rows = kept.Length + joining.Count;
        OrtValue[]? next = rows == 0 ? null : decoder.NewPasts(rows, length);
        try
        {
            for (int layer = 0; next is not null && layer < next.Length; layer++)
            {
                Span<float> target = next[layer].GetTensorMutableDataAsSpan<float>();
                for (int i = 0; i < kept.Length; i++)
                    CopyRow(_pasts![layer].GetTensorDataAsSpan<float>(), _rows, kept[i], Length, target, rows, i, length, keptCached[i]);
                for (int j = 0; j < joining.Count; j++)
                {
                    var cache = (PrefillCache)joining[j].Cache;
                    CopyRow(cache.Values[layer].GetTensorDataAsSpan<float>(), cache.Rows, joining[j].Row, cache.Length, target, rows, kept.Length + j,
                        length, joiningCached[j]);
                }
            }
        }
        catch
        {
            Free(next ?? []);
            throw;
        }
        Reset();
        _pasts = next;
        _rows = rows;
        Length = rows == 0 ? 0 : length;
    }

    /// <inheritdoc/>
    public Tensor Step(long[] pending, long[] cached)
    {
        (Tensor logits, OrtValue[] presents) = decoder.Step(pending, cached, Length, _pasts!);
        Free(_pasts!);
        _pasts = presents;
        Length++;
        return logits;
    }

    /// <inheritdoc/>
    public void Reset()
    {
        Free(_pasts ?? []);
        _pasts = null;
        _rows = 0;
        Length = 0;
    }

    /// <inheritdoc/>
    public void Dispose() => Reset();

    // The last `count` positions of row `sourceRow` of a [2, sourceRows, heads, sourceLength, head size] buffer, into the
    // last `count` positions of row `targetRow` of a [2, targetRows, heads, targetLength, head size] one.
    private void CopyRow(ReadOnlySpan<float> source, int sourceRows, int sourceRow, long sourceLength,
        Span<float> target, int targetRows, int targetRow, long targetLength, long count)
    {
        int heads = decoder.Config.KeyValueHeadCount, headSize = decoder.Config.HeadSize;
        for (int kv = 0; kv < 2; kv++)
        {
            for (int head = 0; head < heads; head++)
            {
                long from = (((long)kv * sourceRows + sourceRow) * heads + head) * sourceLength * headSize + (sourceLength - count) * headSize;
                long to = (((long)kv * targetRows + targetRow) * heads + head) * targetLength * headSize + (targetLength - count) * headSize;
                source.Slice((int)from, (int)(count * headSize)).CopyTo(target.Slice((int)to, (int)(count * headSize)));
            }
        }
    }

    private static void Free(OrtValue[] values)
    {
        foreach (OrtValue value in values)
            value.Dispose();
    }

    // A prefill's present keys and values ([2, rows, heads, length, head size] per layer), until its rows join the batch.
    private sealed class PrefillCache(OrtValue[] values, int rows, long length) : IDisposable
    {
        public OrtValue[] Values { get; } = values;

        public int Rows { get; } = rows;

        public long Length { get; } = length;

        public void Dispose() => Free(Values);
    }
}
