using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// A continuous batch's forward passes in ONNX Runtime (<see cref="OnnxRuntimeDecoding"/>): the batch's keys and values
/// are the last step's present ones; when rows join or leave, each kept row's and each joining prompt's real positions
/// are copied, right-aligned, into new zeroed buffers on the host.
/// </summary>
internal sealed class OnnxRuntimeContinuousBatchEngine(OnnxRuntimeDecoderSession decoder) : IContinuousBatchEngine
{
    private OrtValue[]? _pasts;   // per layer [2, rows, heads, Length, head size]
    private int _rows;

    /// <inheritdoc/>
    public long Length { get; private set; }

    /// <inheritdoc/>
    public Tensor Prefill(int[] prompt, out IDisposable promptCache)
    {
        OrtValue[] empty = decoder.EmptyPasts(1);
        try
        {
            (Tensor logits, OrtValue[] presents) = decoder.Run(1, prompt, [.. Enumerable.Range(0, prompt.Length)], [.. Enumerable.Repeat(1, prompt.Length)],
                prompt.Length, empty);
            promptCache = new PromptCache(presents);
            return logits;
        }
        finally
        {
            Free(empty);
        }
    }

    /// <inheritdoc/>
    public void Compose(int[] kept, long[] keptCached, IReadOnlyList<IDisposable> joining, long[] joiningCached, long length)
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
                    CopyRow(((PromptCache)joining[j]).Values[layer].GetTensorDataAsSpan<float>(), 1, 0, joiningCached[j], target, rows, kept.Length + j,
                        length, joiningCached[j]);
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
        int heads = decoder.Config.HeadCount, headSize = decoder.Config.HeadSize;
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

    // A prompt's present keys and values, until it joins the batch.
    private sealed class PromptCache(OrtValue[] values) : IDisposable
    {
        public OrtValue[] Values { get; } = values;

        public void Dispose() => Free(Values);
    }
}
