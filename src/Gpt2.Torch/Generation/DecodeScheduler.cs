using System.Collections.Concurrent;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// The one decode loop of a <see cref="LanguageModelHost"/>, on its one scheduler thread: generation rows join the
/// running batch at its next step and leave it as they finish, and exclusive work items (embeddings, scoring) run
/// between steps. A batch call is every row joining at the same step.
/// </summary>
/// <remarks>
/// <para>Rows that join at the same step are read together in one left-padded prefill, which samples their first
/// token, and are then placed right-aligned into the batch's keys and values; each step feeds every row its pending
/// token. Positions count real tokens only and masks hide padding, so every row sees exactly what it would see alone.</para>
/// <para>A row's window is its last tokens up to the context: the last context-length tokens of its prompt at first;
/// when its next token would not fit, the window jumps to its last half-context tokens, which are read again as a
/// prefill (positions restart at 0, so their keys and values change). The window depends on the row's own length only,
/// so a row decodes alike alone, in a batch or beside other requests.</para>
/// <para>The thread runs while there is work and ends when there is none; it is started again by the next
/// submission. Each step and each work item holds the model's <see cref="ModelGate"/>.</para>
/// </remarks>
internal sealed class DecodeScheduler : IDisposable
{
    private readonly CausalLanguageModel _model;
    private readonly IContinuousBatchEngine _engine;
    private readonly int _context;
    private readonly int _kept;
    private readonly ConcurrentQueue<object> _queue = new();   // GenerationRow[] joining together, or IWorkItem
    private readonly Lock _sync = new();
    private readonly ManualResetEventSlim _idle = new(true);
    private List<GenerationRow> _rows = [];
    private long _capacity;
    private bool _running;
    private bool _disposed;
    private int _peak;
    private int _waiting;     // rows submitted that have not joined the batch, nor ended before joining
    private int _runningRows;
    private long _cachedTokens;
    private long _reservedPositions;
    private Thread? _thread;
    private const string ThreadName = "LanguageModelHost scheduler";

    /// <param name="model">The model (its lock, and evaluation mode during steps).</param>
    /// <param name="engine">The forward passes; owned and disposed by the scheduler.</param>
    public DecodeScheduler(CausalLanguageModel model, IContinuousBatchEngine engine)
    {
        _model = model;
        _engine = engine;
        _context = model.Config.ContextLength;
        _kept = Math.Max(1, _context / 2);
    }

    /// <summary>The most rows decoded together so far.</summary>
    public int PeakBatchSize => Volatile.Read(ref _peak);

    /// <summary>What the loop holds now; read without the model's lock, so that it answers while a step runs.</summary>
    public LanguageModelHostState State => new(Volatile.Read(ref _runningRows), Volatile.Read(ref _waiting),
        Volatile.Read(ref _cachedTokens), Volatile.Read(ref _reservedPositions));

    /// <summary>Queues rows that join the batch together at its next step.</summary>
    /// <exception cref="ObjectDisposedException">The host was disposed.</exception>
    public void Submit(GenerationRow[] rows)
    {
        Interlocked.Add(ref _waiting, rows.Length);
        try
        {
            Enqueue(rows);
        }
        catch
        {
            Interlocked.Add(ref _waiting, -rows.Length);
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> on the scheduler thread between two steps, holding the model's lock.</summary>
    /// <exception cref="ObjectDisposedException">The host was disposed.</exception>
    public Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var item = new WorkItem<T>(work, cancellationToken);
        Enqueue(item);
        return item.Task;
    }

    /// <summary>Stops the loop after its current step; unfinished rows and queued work fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        bool running;
        lock (_sync)
        {
            if (_disposed)
                return;
            _disposed = true;
            running = _running;
        }
        if (!running)
            Shutdown();
        else if (!ReferenceEquals(_thread, Thread.CurrentThread))
            _idle.Wait();   // the loop shuts down when it sees _disposed (a callback disposing the host returns at once)
    }

    // Fails what is left and frees the engine; run once, by the loop or by Dispose when no loop runs.
    private void Shutdown()
    {
        var disposed = new ObjectDisposedException(nameof(LanguageModelHost), "The model host was disposed before this work finished.");
        foreach (GenerationRow row in _rows)
            row.FailNow(disposed);
        _rows.Clear();
        while (_queue.TryDequeue(out object? item))
        {
            if (item is GenerationRow[] rows)
            {
                foreach (GenerationRow row in rows)
                    row.FailNow(disposed);
                Interlocked.Add(ref _waiting, -rows.Length);
            }
            else
            {
                ((IWorkItem)item).Fail(disposed);
            }
        }
        _capacity = 0;
        Publish(joined: 0);
        _engine.Dispose();
    }

    private void Enqueue(object item)
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, typeof(LanguageModelHost));
            _queue.Enqueue(item);
            if (_running)
                return;
            _running = true;
            _idle.Reset();
        }
        _thread = new Thread(Loop) { IsBackground = true, Name = ThreadName };
        _thread.Start();
    }

    private void Loop()
    {
        while (true)
        {
            lock (_sync)
            {
                if (_disposed || (_rows.Count == 0 && _queue.IsEmpty))
                {
                    if (_disposed)
                        Shutdown();
                    _running = false;
                    _idle.Set();
                    return;
                }
            }
            RunOnce();
        }
    }

    // The work queued before this round, then one step of the batch with the rows that joined. Work queued meanwhile
    // waits for the next round, so that callers who queue again as soon as they are served cannot starve the decode steps.
    private void RunOnce()
    {
        var joining = new List<GenerationRow>();
        for (int queued = _queue.Count; queued > 0 && _queue.TryDequeue(out object? item); queued--)
        {
            if (item is GenerationRow[] rows)
                joining.AddRange(rows);
            else
                lock (ModelGate.For(_model))
                    ((IWorkItem)item).Run();
        }
        // Rows cancelled since the last step leave before it, so that a caller who left sees the model as it was.
        foreach (GenerationRow row in _rows.Concat(joining).Where(r => !r.Done && r.CancellationToken.IsCancellationRequested))
            row.Cancel();
        List<GenerationRow> touched = [.. _rows, .. joining];
        if (_rows.Count == 0 && joining.Count == 0)
            return;
        if (touched.All(r => r.Done))
        {
            _rows.Clear();
            _engine.Reset();
            _capacity = 0;
            Publish(joining.Count);
        }
        else
        {
            StepUnderTheModelsLock(joining);
        }
        foreach (GenerationRow row in touched)
            row.Signal();
    }

    private void StepUnderTheModelsLock(List<GenerationRow> joining)
    {
        lock (ModelGate.For(_model))
        {
            using var inference = new InferenceScope(_model);
            using var scope = NewDisposeScope();
            try
            {
                Step(joining);
            }
            catch (Exception e)
            {
                foreach (GenerationRow row in _rows.Concat(joining))
                    row.Fail(e);
                _rows.Clear();
                _engine.Reset();
                _capacity = 0;
            }
            finally
            {
                Publish(joining.Count);   // under the lock: whoever holds the model sees the state its last step left
            }
        }
    }

    // The state after a step: the joining rows have joined or ended; rows that ended in it still hold their keys and
    // values until the next composition.
    private void Publish(int joined)
    {
        int running = 0;
        long cached = 0;
        foreach (GenerationRow row in _rows)
        {
            if (row.Done)
                continue;
            running++;
            cached += row.Cached;
        }
        Interlocked.Add(ref _waiting, -joined);
        Volatile.Write(ref _runningRows, running);
        Volatile.Write(ref _cachedTokens, cached);
        Volatile.Write(ref _reservedPositions, _rows.Count * _capacity);
    }

    // One step: rows that finished or were cancelled leave, joining rows and rows whose window jumps are read in
    // prefills (which sample their next token), and every row takes one more token.
    private void Step(List<GenerationRow> joining)
    {
        foreach (GenerationRow row in _rows.Concat(joining).Where(r => !r.Done && r.CancellationToken.IsCancellationRequested))
            row.Cancel();
        bool changed = _rows.Any(r => r.Done);
        HashSet<GenerationRow> jumping = [.. _rows.Where(r => !r.Done && r.Cached + 1 > _context)];
        var reading = new List<(GenerationRow Row, int[] Window)>();
        reading.AddRange(joining.Where(r => !r.Done).Select(r => (r, r.Prompt.Length <= _context ? r.Prompt : r.Prompt[^_context..])));
        reading.AddRange(jumping.Select(r => (r, JumpedWindow(r))));

        var prefills = new List<IDisposable>();
        var joined = new List<(GenerationRow Row, IDisposable Cache, int Index)>();
        try
        {
            while (reading.Count > 0)
            {
                Tensor logits;
                IDisposable cache;
                try
                {
                    logits = _engine.Prefill([.. reading.Select(r => r.Window)], out cache);
                }
                catch (Exception e)
                {
                    foreach ((GenerationRow row, _) in reading)
                        row.Fail(e);   // these rows failed on their own; the batch goes on
                    changed |= reading.Any(r => jumping.Contains(r.Row));
                    break;
                }
                prefills.Add(cache);
                SampledToken?[] sampled = Sample(logits, [.. reading.Select(r => r.Row)]);
                var next = new List<(GenerationRow Row, int[] Window)>();
                for (int i = 0; i < reading.Count; i++)
                {
                    GenerationRow row = reading[i].Row;
                    row.Cached = reading[i].Window.Length;
                    Take(row, sampled[i]);
                    if (row.Done)
                        continue;
                    if (row.Cached + 1 > _context)
                        next.Add((row, JumpedWindow(row)));   // a prompt that filled the context: its window jumps at once
                    else
                        joined.Add((row, cache, i));
                }
                reading = next;
            }

            if (changed || joined.Count > 0 || jumping.Count > 0 || _engine.Length + 1 > _capacity)
            {
                int[] kept = [.. Enumerable.Range(0, _rows.Count).Where(i => !_rows[i].Done && !jumping.Contains(_rows[i]))];
                List<GenerationRow> rows = [.. kept.Select(i => _rows[i]), .. joined.Select(j => j.Row)];
                long length = rows.Count == 0 ? 0 : rows.Max(r => r.Cached);
                // Between two compositions every row takes one token per step, and the batch is composed again when a row leaves.
                long capacity = rows.Count == 0 ? 0 : Math.Min(_context, length + rows.Max(r => r.Remaining));
                _engine.Compose(kept, [.. kept.Select(i => _rows[i].Cached)], [.. joined.Select(j => (j.Cache, j.Index))],
                    [.. joined.Select(j => j.Row.Cached)], length, capacity);
                _capacity = capacity;
                _rows = rows;
            }
        }
        catch (Exception e)
        {
            // Rows read but not yet in the batch would otherwise never hear back.
            foreach ((GenerationRow row, _, _) in joined)
                row.Fail(e);
            throw;
        }
        finally
        {
            foreach (IDisposable cache in prefills)
                cache.Dispose();
        }
        if (_rows.Count == 0)
            return;
        if (_rows.Count > _peak)
            Volatile.Write(ref _peak, _rows.Count);

        Tensor all = _engine.Step([.. _rows.Select(r => (long)r.Last)], [.. _rows.Select(r => r.Cached)]);   // [rows, vocab]
        SampledToken?[] tokens = Sample(all, _rows);
        for (int i = 0; i < _rows.Count; i++)
        {
            _rows[i].Cached++;
            Take(_rows[i], tokens[i]);
        }
    }

    // The last half-context tokens of a row, its pending token included.
    private int[] JumpedWindow(GenerationRow row) => [.. row.History.GetRange(row.History.Count - _kept, _kept)];

    // Each row's next token from logits [rows, vocab]: plain greedy rows share one argmax and one transfer to the host;
    // null for a row whose sampling failed (it fails alone).
    private static SampledToken?[] Sample(Tensor logits, IReadOnlyList<GenerationRow> rows)
    {
        long[]? greedy = rows.Any(r => r.Sampler.IsPlainGreedy) ? logits.argmax(-1).cpu().data<long>().ToArray() : null;
        var sampled = new SampledToken?[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            GenerationRow row = rows[i];
            if (row.Done)
                continue;
            try
            {
                sampled[i] = row.Sampler.IsPlainGreedy
                    ? new SampledToken((int)greedy![i], null)
                    : row.Sampler.Next(logits.narrow(0, i, 1), row.History, row.Prompt.Length);
            }
            catch (Exception e)
            {
                row.Fail(e);
            }
        }
        return sampled;
    }

    private static void Take(GenerationRow row, SampledToken? token)
    {
        if (token is not { } sampled || row.Done)
            return;
        try
        {
            row.Take(sampled);
        }
        catch (Exception e)
        {
            row.Fail(e);   // the caller's token callback threw
        }
    }

    private interface IWorkItem
    {
        void Run();

        void Fail(Exception e);
    }

    private sealed class WorkItem<T>(Func<T> work, CancellationToken cancellationToken) : IWorkItem
    {
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Task => _done.Task;

        public void Run()
        {
            if (cancellationToken.IsCancellationRequested)
            {
                _done.TrySetCanceled(cancellationToken);
                return;
            }
            try
            {
                _done.TrySetResult(work());
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                _done.TrySetCanceled(cancellationToken);
            }
            catch (Exception e)
            {
                _done.TrySetException(e);
            }
        }

        public void Fail(Exception e) => _done.TrySetException(e);
    }
}
