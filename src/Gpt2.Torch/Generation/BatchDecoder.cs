using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Feeds a batch of growing token sequences to a model, one step at a time: rows of different lengths are left-padded
/// and masked, so each row's logits are those it would get on its own; with the key/value cache, each step feeds only
/// the tokens sampled last.
/// </summary>
/// <remarks>
/// <para>Context cropping follows <see cref="DecodingWindows"/>. With the cache, a window's jump costs one prefill of
/// half a context for that row, after which cached decoding goes on; sliding the window by one token per step instead
/// would need a full-context prefill for every token past the context.</para>
/// <para>Rows that have finished stay in the batch (no per-row host work): their new tokens are masked out and ignored.</para>
/// </remarks>
internal sealed class BatchDecoder : IBatchDecoder
{
    private readonly Gpt2Model _model;
    private readonly List<int>[] _rows;
    private readonly bool[] _finished;
    private readonly DecodingWindows _windows;
    private readonly int _context;
    private readonly KeyValueCache? _cache;
    private readonly Tensor? _mask;     // [batch, context]: which cached positions hold real tokens (batches of several rows)
    private Tensor? _pending;           // [batch, 1]: the tokens sampled last, not yet fed
    private Tensor? _live;              // [batch]: rows still generating
    private int _finishedCount = -1;

    /// <param name="model">The model, in evaluation mode, under <c>no_grad</c>.</param>
    /// <param name="rows">Each row's tokens; the caller appends the sampled ones before <see cref="Advance"/>.</param>
    /// <param name="finished">Which rows have stopped; the caller sets them before <see cref="Advance"/>.</param>
    /// <param name="useCache">Whether to keep keys and values between steps.</param>
    /// <param name="maxNewTokens">Most steps, which bounds the cache until the windows reach the context.</param>
    public BatchDecoder(Gpt2Model model, List<int>[] rows, bool[] finished, bool useCache, int maxNewTokens)
    {
        _model = model;
        _rows = rows;
        _finished = finished;
        _context = model.Config.ContextLength;
        _windows = new DecodingWindows(rows, finished, _context);
        if (useCache)
        {
            // The cache reaches the context only if the windows do; until then it needs the longest window plus the new tokens.
            _cache = model.CreateCache(rows.Length, (int)Math.Min(_context, rows.Max(row => (long)row.Count) + maxNewTokens));
            if (rows.Length > 1)
                _mask = zeros([rows.Length, _context], @bool, model.Device).DetachFromDisposeScope();
        }
    }

    /// <inheritdoc/>
    public Tensor NextLogits()
    {
        int[] all = [.. Enumerable.Range(0, _rows.Length)];
        if (_cache is null)
        {
            (Tensor ids, Tensor? mask) = Windows(all, leaveOut: 0);
            return LastLogits(_model.ComputeHiddenStates(ids, attentionMask: mask));
        }
        if (_pending is null)
        {
            (Tensor ids, Tensor? mask) = Windows(all, leaveOut: 0);
            return LastLogits(_model.ComputeHiddenStates(ids, _cache, CacheMask(mask, ids.shape[1])));
        }
        if (_cache.Length == _context || _windows.AnyJumped)
            MakeRoom();
        long length = _cache.Length;
        _mask?.narrow(1, length, 1).copy_(_live!.unsqueeze(1));
        return LastLogits(_model.ComputeHiddenStates(_pending, _cache, _mask?.narrow(1, 0, length + 1)));
    }

    /// <inheritdoc/>
    public void Advance(Tensor sampled)
    {
        _windows.Advance();
        if (_cache is null)
            return;
        _pending?.Dispose();
        _pending = sampled.unsqueeze(1).DetachFromDisposeScope();
        int finishedCount = _finished.Count(f => f);
        if (_mask is not null && finishedCount != _finishedCount)
        {
            _finishedCount = finishedCount;
            _live?.Dispose();
            _live = tensor(_finished.Select(f => !f).ToArray(), device: _model.Device).DetachFromDisposeScope();
        }
    }

    // The rows' windows, leaving out their last `leaveOut` tokens, left-padded to the longest: ids [rows, width] and,
    // when some row is padded, the mask of real tokens.
    private (Tensor Ids, Tensor? Mask) Windows(int[] rows, int leaveOut)
    {
        (long[] ids, bool[] real, int width, bool padded) = _windows.LeftPadded(rows, leaveOut);
        Tensor idTensor = tensor(ids, [rows.Length, width], int64, _model.Device);
        return (idTensor, padded ? tensor(real, [rows.Length, width], @bool, _model.Device) : null);
    }

    private Tensor? CacheMask(Tensor? windowMask, long width)
    {
        if (_mask is null)
            return null;
        Tensor mask = _mask.narrow(1, 0, width);
        if (windowMask is null)
            mask.fill_(true);
        else
            mask.copy_(windowMask);
        return mask;
    }

    // The cache is full or some windows jumped: drop the leading positions no live row needs any more, and recompute
    // the jumped rows' windows (positions restart at 0, so their keys and values change).
    private void MakeRoom()
    {
        int needed = _windows.LiveRows.Max(row => _windows.Length(row, leaveOut: 1));
        long drop = _cache!.Length - needed;
        _cache.DropFirst(drop);
        if (_mask is not null)
        {
            using Tensor kept = _mask.narrow(1, drop, needed).clone();
            _mask.narrow(1, 0, needed).copy_(kept);
        }
        int[] jumped = _windows.TakeJumped();
        if (jumped.Length == 0)
            return;
        Tensor rows = tensor(jumped.Select(row => (long)row).ToArray(), int64, _model.Device);
        int recomputed = _windows.Kept - 1;
        if (recomputed > 0)
        {
            using KeyValueCache window = _model.CreateCache(jumped.Length, recomputed);
            _model.ComputeHiddenStates(Windows(jumped, leaveOut: 1).Ids, window);
            _cache.OverwriteLast(rows, window);
        }
        if (_mask is not null)
        {
            _mask.narrow(1, 0, needed).index_fill_(0, rows, false);
            _mask.narrow(1, needed - recomputed, recomputed).index_fill_(0, rows, true);
        }
    }

    private Tensor LastLogits(Tensor hiddenStates) =>
        _model.ComputeLogits(hiddenStates.narrow(1, hiddenStates.shape[1] - 1, 1)).squeeze(1);

    /// <inheritdoc/>
    public void Dispose()
    {
        _cache?.Dispose();
        _mask?.Dispose();
        _pending?.Dispose();
        _live?.Dispose();
    }
}
