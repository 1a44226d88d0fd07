using System.Diagnostics;
using System.Threading.Channels;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>What a finished <see cref="GenerationRow"/> produced: its generated tokens (a stop kept at the end) and its text result.</summary>
internal sealed record GenerationOutcome(int[] Tokens, TextGenerationResult Result);

/// <summary>
/// One generation in the host's decode loop: its prompt and history, its sampler, its stop checker, where it stands in
/// the batch's keys and values, and where its tokens and text go (a token callback run on the scheduler thread, a
/// channel of text updates, and the task of its outcome).
/// </summary>
internal sealed class GenerationRow
{
    private readonly StopChecker _stops;
    private readonly Action<int>? _onToken;
    private readonly Channel<TextGenerationUpdate>? _updates;
    private readonly List<GeneratedTokenLogProbability>? _logProbabilities;
    private readonly TaskCompletionSource<GenerationOutcome> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _reported;   // log-probabilities already sent in an update
    private Action? _signal;  // completes Outcome; run by Signal once the step has released the model
    private readonly long _submitted = Stopwatch.GetTimestamp();
    private TimeSpan _timeToFirstToken;

    /// <param name="prompt">The prompt's tokens (validated, at least one).</param>
    /// <param name="options">The row's options (validated).</param>
    /// <param name="tokenizer">Turns tokens into text.</param>
    /// <param name="device">Where the row's logits live.</param>
    /// <param name="onToken">Called on the scheduler thread with each generated token; an exception fails the row.</param>
    /// <param name="streamed">Whether text updates go out on <see cref="Updates"/>.</param>
    /// <param name="cancellationToken">Takes the row out at the next step.</param>
    public GenerationRow(int[] prompt, GenerationOptions options, LanguageModelTokenizer tokenizer, Device device,
        Action<int>? onToken, bool streamed, CancellationToken cancellationToken)
    {
        Prompt = prompt;
        Options = options;
        History = new List<int>(prompt.Length + options.MaxNewTokens);
        History.AddRange(prompt);
        _stops = new StopChecker(tokenizer, options);
        _onToken = onToken;
        _updates = streamed ? Channel.CreateUnbounded<TextGenerationUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true }) : null;
        _logProbabilities = options.LogProbabilities is null ? null : [];
        CancellationToken = cancellationToken;
        Sampler = new TokenSampler(options, device, tokenizer);
    }

    public int[] Prompt { get; }

    public GenerationOptions Options { get; }

    /// <summary>The prompt and the tokens generated so far.</summary>
    public List<int> History { get; }

    public TokenSampler Sampler { get; }

    public CancellationToken CancellationToken { get; }

    /// <summary>The row's real tokens in the batch's keys and values (its window, less the pending token).</summary>
    public long Cached { get; set; }

    /// <summary>The token sampled last, fed at the next step.</summary>
    public int Last => History[^1];

    public bool Done { get; private set; }

    /// <summary>Tokens still allowed by <see cref="GenerationOptions.MaxNewTokens"/>.</summary>
    public int Remaining => Options.MaxNewTokens - _stops.TokenCount;

    /// <summary>The text updates of a streamed row; null otherwise.</summary>
    public ChannelReader<TextGenerationUpdate>? Updates => _updates?.Reader;

    public Task<GenerationOutcome> Outcome => _done.Task;

    /// <summary>Takes the row's next token: its text goes out, and the row ends at a stop or its length limit.</summary>
    public void Take(SampledToken sampled)
    {
        History.Add(sampled.TokenId);
        if (_logProbabilities is not null && sampled.LogProbabilities is { } entry)
            _logProbabilities.Add(entry);
        string piece = _stops.Add(sampled.TokenId);
        if (_stops.TokenCount == 1)
            _timeToFirstToken = Stopwatch.GetElapsedTime(_submitted);
        _onToken?.Invoke(sampled.TokenId);
        if (piece.Length > 0)
            Send(piece);
        if (_stops.FinishReason is null && _stops.TokenCount < Options.MaxNewTokens)
            return;
        string rest = _stops.Complete();
        if (rest.Length > 0 || (_logProbabilities is not null && _reported < _logProbabilities.Count))
            Send(rest);
        Done = true;
        Sampler.Dispose();
        var result = new TextGenerationResult(_stops.Text, _stops.FinishReason!.Value, Prompt.Length, _stops.TokenCount, 0)
        {
            LogProbabilities = _logProbabilities,
            TimeToFirstToken = _timeToFirstToken,
            TimeToLastToken = Stopwatch.GetElapsedTime(_submitted),
        };
        var outcome = new GenerationOutcome([.. History.Skip(Prompt.Length)], result);
        _signal = () => _done.TrySetResult(outcome);
        _updates?.Writer.TryComplete();
    }

    public void Cancel() => Fail(new OperationCanceledException(CancellationToken));

    /// <summary>Fails the row and completes <see cref="Outcome"/> at once (for rows outside a step).</summary>
    public void FailNow(Exception e)
    {
        Fail(e);
        Signal();
    }

    public void Fail(Exception e)
    {
        if (Done)
            return;
        Done = true;
        Sampler.Dispose();
        _signal = e is OperationCanceledException
            ? () => _done.TrySetCanceled(CancellationToken.IsCancellationRequested ? CancellationToken : new CancellationToken(true))
            : () => _done.TrySetException(e);
        _updates?.Writer.TryComplete(e);
    }

    /// <summary>
    /// Completes <see cref="Outcome"/> once the row is done: called after the step that ended it has left the model
    /// (evaluation mode restored), so that a caller who sees the outcome sees the model as it left it.
    /// </summary>
    public void Signal() => Interlocked.Exchange(ref _signal, null)?.Invoke();

    private void Send(string text)
    {
        if (_updates is null)
            return;
        IReadOnlyList<GeneratedTokenLogProbability> entries = [];
        if (_logProbabilities is not null)
        {
            entries = _logProbabilities.GetRange(_reported, _logProbabilities.Count - _reported);
            _reported = _logProbabilities.Count;
        }
        _updates.Writer.TryWrite(new TextGenerationUpdate(text, entries));
    }
}
