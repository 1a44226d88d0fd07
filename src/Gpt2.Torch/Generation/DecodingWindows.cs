namespace Gpt2.Torch.Generation;

/// <summary>
/// Which tokens of each growing row the model sees: a row's window is its tokens from <c>start</c> on. It starts as the
/// last context-length tokens of the prompt; when a new token would make it longer than the context, it jumps to the
/// last half-context tokens. The window depends on the row's own length only, so batched, solo, cached and uncached
/// decoding, with either engine, show the model the same tokens at the same positions.
/// </summary>
internal sealed class DecodingWindows
{
    private readonly List<int>[] _rows;
    private readonly bool[] _finished;
    private readonly int[] _start;
    private readonly bool[] _jumped;    // rows whose window moved since the cache last saw them

    /// <param name="rows">Each row's tokens; the caller appends the sampled ones before <see cref="Advance"/>.</param>
    /// <param name="finished">Which rows have stopped; the caller sets them before <see cref="Advance"/>.</param>
    /// <param name="context">The model's context length.</param>
    public DecodingWindows(List<int>[] rows, bool[] finished, int context)
    {
        _rows = rows;
        _finished = finished;
        Context = context;
        Kept = Math.Max(1, context / 2);
        _start = [.. rows.Select(row => Math.Max(0, row.Count - context))];
        _jumped = new bool[rows.Length];
    }

    /// <summary>The model's context length: the longest window.</summary>
    public int Context { get; }

    /// <summary>Tokens a window keeps when it jumps.</summary>
    public int Kept { get; }

    /// <summary>The number of rows.</summary>
    public int RowCount => _rows.Length;

    /// <summary>Whether some window jumped since <see cref="TakeJumped"/> was last called.</summary>
    public bool AnyJumped => _jumped.Contains(true);

    /// <summary>The rows still generating.</summary>
    public int[] LiveRows => [.. Enumerable.Range(0, _rows.Length).Where(row => !_finished[row])];

    /// <summary>The tokens of <paramref name="row"/>'s window, leaving out its last <paramref name="leaveOut"/>.</summary>
    public int Length(int row, int leaveOut = 0) => _rows[row].Count - leaveOut - _start[row];

    /// <summary>Moves the windows of unfinished rows that outgrew the context; call after appending the sampled tokens.</summary>
    public void Advance()
    {
        for (int row = 0; row < _rows.Length; row++)
        {
            if (!_finished[row] && _rows[row].Count - _start[row] > Context)
            {
                _start[row] = _rows[row].Count - Kept;
                _jumped[row] = true;
            }
        }
    }

    /// <summary>The live rows whose windows jumped since the last call, and forgets them.</summary>
    public int[] TakeJumped()
    {
        int[] jumped = [.. LiveRows.Where(row => _jumped[row])];
        Array.Clear(_jumped);
        return jumped;
    }

    /// <summary>
    /// <paramref name="rows"/>' windows, leaving out their last <paramref name="leaveOut"/> tokens, left-padded with 0 to
    /// the longest: ids and which of them are real, both [rows, width] row-major. A finished row whose last token filled
    /// its window past the context (windows of finished rows no longer move) keeps its last context-length tokens.
    /// </summary>
    public (long[] Ids, bool[] Real, int Width, bool Padded) LeftPadded(int[] rows, int leaveOut)
    {
        int Length(int row) => Math.Min(this.Length(row, leaveOut), Context);
        int width = rows.Max(Length);
        var ids = new long[rows.Length * width];
        var real = new bool[rows.Length * width];
        bool padded = false;
        for (int i = 0; i < rows.Length; i++)
        {
            List<int> tokens = _rows[rows[i]];
            int length = Length(rows[i]), start = tokens.Count - leaveOut - length, offset = i * width + width - length;
            padded |= length < width;
            for (int t = 0; t < length; t++)
            {
                ids[offset + t] = tokens[start + t];
                real[offset + t] = true;
            }
        }
        return (ids, real, width, padded);
    }
}
