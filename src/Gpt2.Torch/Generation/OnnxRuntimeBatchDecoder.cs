using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// The steps of <see cref="BatchDecoder"/> run in ONNX Runtime (<see cref="OnnxRuntimeDecoding"/>): rows of different
/// lengths are left-padded and masked, positions count real tokens only, and with the cache each step feeds only the
/// tokens sampled last, with the previous step's present keys and values as its past ones (kept in ONNX Runtime's arena).
/// </summary>
/// <remarks>
/// When the cache has no room for the next token or a window jumped (<see cref="DecodingWindows"/>), every row's window
/// is prefilled again: one forward pass over at most a context of tokens every half context of steps, where the
/// TorchSharp engine recomputes only the rows that jumped. Finished rows stay in the batch; their logits are ignored.
/// </remarks>
internal sealed class OnnxRuntimeBatchDecoder : IBatchDecoder
{
    private readonly OnnxRuntimeDecoderSession _decoder;
    private readonly DecodingWindows _windows;
    private readonly bool _useCache;
    private readonly int _batch;
    private readonly long[] _cached;     // each row's real tokens in the cache, right-aligned (its next position)
    private OrtValue[]? _pasts;
    private long _length;                // cached positions, padding included
    private long[]? _pending;            // the tokens sampled last, not yet fed

    /// <param name="decoder">The session.</param>
    /// <param name="rows">Each row's tokens; the caller appends the sampled ones before <see cref="Advance"/>.</param>
    /// <param name="finished">Which rows have stopped; the caller sets them before <see cref="Advance"/>.</param>
    /// <param name="useCache">Whether to keep keys and values between steps.</param>
    public OnnxRuntimeBatchDecoder(OnnxRuntimeDecoderSession decoder, List<int>[] rows, bool[] finished, bool useCache)
    {
        _decoder = decoder;
        _windows = new DecodingWindows(rows, finished, decoder.Config.ContextLength);
        _useCache = useCache;
        _batch = rows.Length;
        _cached = new long[_batch];
    }

    /// <inheritdoc/>
    public Tensor NextLogits()
    {
        if (!_useCache || _pasts is null || _length == _windows.Context || _windows.AnyJumped)
        {
            _windows.TakeJumped();
            return Prefill();
        }
        OrtValue[] pasts = _pasts;
        long length = _length;
        Tensor logits = Replace(pasts, () => _decoder.Step(_pending!, _cached, length, pasts));
        for (int row = 0; row < _batch; row++)
            _cached[row]++;
        _length++;
        return logits;
    }

    /// <inheritdoc/>
    public void Advance(Tensor sampled)
    {
        _windows.Advance();
        if (_useCache)
            _pending = sampled.data<long>().ToArray();
    }

    // Every row's window, left-padded (so right-aligned), from an empty cache; positions count real tokens only.
    private Tensor Prefill()
    {
        (long[] ids, bool[] real, int width, _) = _windows.LeftPadded([.. Enumerable.Range(0, _batch)], leaveOut: 0);
        var mask = new int[ids.Length];
        var positions = new int[ids.Length];
        for (int row = 0; row < _batch; row++)
        {
            int count = 0;
            for (int t = 0; t < width; t++)
            {
                int i = row * width + t;
                mask[i] = real[i] ? 1 : 0;
                count += mask[i];
                positions[i] = Math.Max(0, count - 1);
            }
            _cached[row] = count;
        }
        _length = width;
        FreePasts();
        OrtValue[] empty = _decoder.EmptyPasts(_batch);
        return Replace(empty, () => _decoder.Run(_batch, [.. ids.Select(id => (int)id)], positions, mask, width, empty));
    }

    // Runs a pass after `pasts`, which are freed: its present keys and values become the pasts with the cache and are
    // freed without it.
    private Tensor Replace(OrtValue[] pasts, Func<(Tensor Logits, OrtValue[] Presents)> run)
    {
        (Tensor Logits, OrtValue[] Presents) result;
        try
        {
            result = run();
        }
        finally
        {
            foreach (OrtValue past in pasts)
                past.Dispose();
            if (ReferenceEquals(pasts, _pasts))
                _pasts = null;
        }
        _pasts = result.Presents;
        if (!_useCache)
            FreePasts();
        return result.Logits;
    }

    private void FreePasts()
    {
        foreach (OrtValue past in _pasts ?? [])
            past.Dispose();
        _pasts = null;
    }

    /// <inheritdoc/>
    public void Dispose() => FreePasts();
}
