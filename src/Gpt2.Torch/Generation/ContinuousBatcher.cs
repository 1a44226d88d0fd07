using System.Threading.Channels;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Continuous batching for <see cref="Gpt2TextGenerationService"/>: generations submitted while others run join the
/// running batch at its next step and leave it as they finish, so that concurrent callers share each forward pass.
/// </summary>
/// <remarks>
/// A joining prompt is read on its own (its keys and values in a one-row cache, its first token sampled from its own
/// logits), then its cache is placed right-aligned into the batch's cache; the batch's attention mask marks each row's
/// real positions, and positions count real tokens only, so every row sees exactly what it would see alone. Prompts are
/// already cropped so that a row never outgrows the context (prompt + MaxNewTokens &lt;= context). One background loop
/// runs the steps, each under the service's gate, so the service's other calls interleave with it. The forward passes
/// and the batch's keys and values belong to an <see cref="IContinuousBatchEngine"/> (TorchSharp or ONNX Runtime).
/// </remarks>
internal sealed class ContinuousBatcher : IDisposable
{
    private readonly Gpt2Model _model;
    private readonly Gpt2Tokenizer _tokenizer;
    private readonly SemaphoreSlim _gate;
    private readonly Channel<Row> _joining = Channel.CreateUnbounded<Row>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private readonly List<Row> _rows = [];
    private readonly IContinuousBatchEngine _engine;
    private int _peak;

    /// <param name="model">The model (its device, and evaluation mode during steps).</param>
    /// <param name="tokenizer">Turns tokens into text.</param>
    /// <param name="gate">Held during each step.</param>
    /// <param name="engine">The forward passes; owned and disposed by the batcher.</param>
    public ContinuousBatcher(Gpt2Model model, Gpt2Tokenizer tokenizer, SemaphoreSlim gate, IContinuousBatchEngine engine)
    {
        _model = model;
        _engine = engine;
        _tokenizer = tokenizer;
        _gate = gate;
        _loop = Task.Factory.StartNew(() => RunAsync().GetAwaiter().GetResult(), TaskCreationOptions.LongRunning);
    }

    /// <summary>The most rows decoded together so far.</summary>
    public int PeakBatchSize => Volatile.Read(ref _peak);

    /// <summary>Queues a generation; its pieces arrive on the returned reader, and <paramref name="done"/> gets its result.</summary>
    public ChannelReader<string> Submit(int[] prompt, int dropped, GenerationOptions options, TaskCompletionSource<TextGenerationResult> done,
        CancellationToken cancellationToken)
    {
        var row = new Row(prompt, dropped, options, new TextStreamDecoder(_tokenizer, options), done, cancellationToken, _model.Device);
        if (!_joining.Writer.TryWrite(row))
            throw new ObjectDisposedException(nameof(Gpt2TextGenerationService));
        return row.Pieces.Reader;
    }

    public void Dispose()
    {
        _joining.Writer.TryComplete();
        _stopping.Cancel();
        try
        {
            _loop.Wait();
        }
        catch (AggregateException)
        {
        }
        foreach (Row row in _rows)
            row.Fail(new ObjectDisposedException(nameof(Gpt2TextGenerationService)));
        _engine.Dispose();
        _stopping.Dispose();
    }

    private async Task RunAsync()
    {
        CancellationToken stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            if (_rows.Count == 0)
            {
                try
                {
                    if (!await _joining.Reader.WaitToReadAsync(stopping).ConfigureAwait(false))
                        return;
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            try
            {
                await _gate.WaitAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                Step();
            }
            catch (Exception e)
            {
                foreach (Row row in _rows)
                    row.Fail(e);
                _rows.Clear();
                _engine.Reset();
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    // One step: rows that finished or were cancelled leave, waiting rows read their prompts and join, and every row
    // takes one more token.
    private void Step()
    {
        using var inference = new InferenceScope(_model);
        using var scope = NewDisposeScope();
        bool changed = false;
        foreach (Row row in _rows.Where(r => !r.Done && r.CancellationToken.IsCancellationRequested))
            row.Cancel();
        if (_rows.Any(r => r.Done))
            changed = true;

        var joining = new List<(Row Row, IDisposable Cache)>();
        try
        {
            while (_joining.Reader.TryRead(out Row? row))
            {
                if (row.CancellationToken.IsCancellationRequested)
                {
                    row.Cancel();
                    continue;
                }
                IDisposable? own = null;
                try
                {
                    Tensor logits = _engine.Prefill(row.Prompt, out own);
                    row.Take(Sample(row, logits));
                    row.Cached = row.Prompt.Length;
                }
                catch (Exception e)
                {
                    row.Fail(e);   // this prompt failed on its own; the batch goes on
                }
                if (row.Done)
                    own?.Dispose();
                else
                    joining.Add((row, own!));
            }

            if (changed || joining.Count > 0)
            {
                Row[] kept = [.. _rows.Where(r => !r.Done)];
                long length = Math.Max(kept.Length == 0 ? 0 : kept.Max(r => r.Cached), joining.Count == 0 ? 0 : joining.Max(j => (long)j.Row.Cached));
                _engine.Compose([.. kept.Select(r => _rows.IndexOf(r))], [.. kept.Select(r => r.Cached)],
                    [.. joining.Select(j => j.Cache)], [.. joining.Select(j => j.Row.Cached)], length);
                _rows.RemoveAll(r => r.Done);
                _rows.AddRange(joining.Select(j => j.Row));
            }
        }
        catch (Exception e)
        {
            // Rows read from the queue but not yet in the batch would otherwise never hear back.
            foreach ((Row row, _) in joining)
                row.Fail(e);
            throw;
        }
        finally
        {
            foreach ((_, IDisposable cache) in joining)
                cache.Dispose();
        }
        if (_rows.Count == 0)
            return;
        if (_rows.Count > _peak)
            Volatile.Write(ref _peak, _rows.Count);

        Tensor all = _engine.Step([.. _rows.Select(r => (long)r.Last)], [.. _rows.Select(r => r.Cached)]);   // [rows, vocab]
        long[]? greedy = _rows.Any(r => r.Sampler.IsPlainGreedy) ? all.argmax(-1).cpu().data<long>().ToArray() : null;
        for (int i = 0; i < _rows.Count; i++)
        {
            Row row = _rows[i];
            row.Cached++;
            row.Take(row.Sampler.IsPlainGreedy ? (int)greedy![i] : Sample(row, all.narrow(0, i, 1)));
        }
    }

    private static int Sample(Row row, Tensor logits) => row.Sampler.Next(logits, row.History, row.Prompt.Length).TokenId;

    private sealed class Row(int[] prompt, int dropped, GenerationOptions options, TextStreamDecoder decoder,
        TaskCompletionSource<TextGenerationResult> done, CancellationToken cancellationToken, Device device)
    {
        public int[] Prompt { get; } = prompt;
        public GenerationOptions Options { get; } = options;
        public TokenSampler Sampler { get; } = new(options, device);
        public List<int> History { get; } = [.. prompt];
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public Channel<string> Pieces { get; } = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        public long Cached { get; set; }
        public int Last { get; private set; }
        public bool Done { get; private set; }

        // Takes the row's next token: its text goes out, and the row ends at a stop or its length limit.
        public void Take(int token)
        {
            Last = token;
            History.Add(token);
            string piece = decoder.Add(token);
            if (piece.Length > 0)
                Pieces.Writer.TryWrite(piece);
            if (decoder.FinishReason is null && decoder.TokenCount < Options.MaxNewTokens)
                return;
            string rest = decoder.Complete();
            if (rest.Length > 0)
                Pieces.Writer.TryWrite(rest);
            Done = true;
            Sampler.Dispose();
            done.TrySetResult(new TextGenerationResult(decoder.Text, decoder.FinishReason!.Value, Prompt.Length, decoder.TokenCount, dropped));
            Pieces.Writer.TryComplete();
        }

        public void Cancel() => Fail(new OperationCanceledException(CancellationToken));

        public void Fail(Exception e)
        {
            if (Done)
                return;
            Done = true;
            Sampler.Dispose();
            if (e is OperationCanceledException)
                done.TrySetCanceled(CancellationToken);
            else
                done.TrySetException(e);
            Pieces.Writer.TryComplete(e);
        }
    }
}
