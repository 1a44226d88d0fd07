using System.Collections.Concurrent;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Merges the embedding requests of concurrent callers: requests that arrive while the host's scheduler is busy wait
/// together and are read in one left-padded forward pass at its next round, up to a budget of padded tokens (the first
/// request always goes, whatever its size), each then pooled and normalized as it asked.
/// </summary>
internal sealed class EmbeddingBatcher
{
    private readonly Func<Func<int>, Task<int>> _schedule;
    private readonly Func<int[][], (float[][] Mean, float[][] LastToken)> _embed;
    private readonly long _tokenBudget;
    private readonly ConcurrentQueue<Request> _pending = new();
    private int _scheduled;
    private int _passes;

    /// <param name="schedule">Queues work on the host's scheduler thread (its next round).</param>
    /// <param name="embed">Reads rows in one left-padded pass: each row's mean-pooled and last-token final hidden states.</param>
    /// <param name="tokenBudget">Most padded tokens (rows x longest row) one pass reads.</param>
    public EmbeddingBatcher(Func<Func<int>, Task<int>> schedule, Func<int[][], (float[][] Mean, float[][] LastToken)> embed, long tokenBudget)
    {
        _schedule = schedule;
        _embed = embed;
        _tokenBudget = tokenBudget;
    }

    /// <summary>Forward passes run so far.</summary>
    public int PassCount => Volatile.Read(ref _passes);

    /// <summary>The vectors of <paramref name="rows"/>, once a round reads them.</summary>
    /// <exception cref="ObjectDisposedException">The host was disposed.</exception>
    public Task<float[][]> EmbedAsync(int[][] rows, EmbeddingPooling pooling, bool normalize, CancellationToken cancellationToken)
    {
        var request = new Request(rows, pooling, normalize, cancellationToken);
        _pending.Enqueue(request);
        Schedule();
        return request.Done.Task;
    }

    // Queues one round of merged requests unless one is already queued.
    private void Schedule()
    {
        if (Interlocked.Exchange(ref _scheduled, 1) != 0)
            return;
        Task<int> round;
        try
        {
            round = _schedule(RunPending);
        }
        catch (Exception e)
        {
            Volatile.Write(ref _scheduled, 0);
            FailPending(e);
            throw;
        }
        // A round the scheduler fails without running (the host was disposed) fails the requests waiting for it.
        round.ContinueWith(task =>
        {
            Volatile.Write(ref _scheduled, 0);
            FailPending(task.Exception!.InnerException!);
        }, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    // On the scheduler thread: the waiting requests that fit the budget, in one pass; the rest go to the next round.
    private int RunPending()
    {
        Volatile.Write(ref _scheduled, 0);
        var batch = new List<Request>();
        int rowCount = 0, width = 0;
        while (_pending.TryPeek(out Request? next))
        {
            int widthWith = Math.Max(width, next.Rows.Max(row => row.Length));
            if (batch.Count > 0 && (long)(rowCount + next.Rows.Length) * widthWith > _tokenBudget)
                break;
            _pending.TryDequeue(out _);
            if (next.CancellationToken.IsCancellationRequested)
            {
                next.Done.TrySetCanceled(next.CancellationToken);
                continue;
            }
            batch.Add(next);
            rowCount += next.Rows.Length;
            width = widthWith;
        }
        if (!_pending.IsEmpty)
            Schedule();
        if (batch.Count == 0)
            return 0;
        try
        {
            Interlocked.Increment(ref _passes);
            (float[][] mean, float[][] lastToken) = _embed([.. batch.SelectMany(request => request.Rows)]);
            int offset = 0;
            foreach (Request request in batch)
            {
                float[][] pooled = request.Pooling == EmbeddingPooling.LastToken ? lastToken : mean;
                request.Done.TrySetResult([.. pooled[offset..(offset + request.Rows.Length)].Select(vector => request.Normalize ? UnitLength(vector) : vector)]);
                offset += request.Rows.Length;
            }
        }
        catch (Exception e)
        {
            foreach (Request request in batch)
                request.Done.TrySetException(e);
        }
        return rowCount;
    }

    private void FailPending(Exception e)
    {
        while (_pending.TryDequeue(out Request? request))
            request.Done.TrySetException(e);
    }

    // The vector scaled to unit L2 length (torch's normalize: divided by the norm, or by 1e-12 when the norm is smaller).
    private static float[] UnitLength(float[] vector)
    {
        double norm = Math.Sqrt(vector.Sum(v => (double)v * v));
        double scale = 1 / Math.Max(norm, 1e-12);
        return [.. vector.Select(v => (float)(v * scale))];
    }

    private sealed record Request(int[][] Rows, EmbeddingPooling Pooling, bool Normalize, CancellationToken CancellationToken)
    {
        public TaskCompletionSource<float[][]> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
