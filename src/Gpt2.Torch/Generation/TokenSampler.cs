using Gpt2.Torch.Generation.Sampling;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>The token a <see cref="TokenSampler"/> chose, with its log-probabilities when they were asked for.</summary>
internal readonly record struct SampledToken(int TokenId, GeneratedTokenLogProbability? LogProbabilities);

/// <summary>
/// One generation row's sampling: its logits processors (see <see cref="LogitsProcessorPipeline"/> and the order
/// <see cref="GenerationOptions"/> gives), its seeded generator, and the choice of the next token from the row's
/// logits and its token history.
/// </summary>
internal sealed class TokenSampler : IDisposable
{
    private readonly GenerationOptions _options;
    private readonly LogitsProcessorPipeline _pipeline;
    private readonly RowHistory _history = new();
    private readonly Generator? _random;

    /// <param name="options">The row's options (validated).</param>
    /// <param name="device">Where the row's logits live (the seeded generator's device).</param>
    /// <param name="tokenizer">The model's tokenizer; needed for a structured output.</param>
    public TokenSampler(GenerationOptions options, Device device, LanguageModelTokenizer? tokenizer = null)
    {
        _options = options;
        _pipeline = LogitsProcessorPipeline.For(options, tokenizer);
        _random = options.Seed is long seed && !options.IsGreedy ? new Generator((ulong)seed, device) : null;
    }

    /// <summary>
    /// Whether the next token is the argmax of the raw logits and nothing else is asked (greedy, no bias, no penalty,
    /// no structured output, no log-probabilities): such rows of a batch can share one argmax without calling <see cref="Next"/>.
    /// </summary>
    public bool IsPlainGreedy => _options.IsGreedy && _pipeline.IsEmpty && _options.LogProbabilities is null;

    /// <summary>
    /// The next token for logits [1, vocabulary] (any floating type) of a row whose tokens so far are
    /// <paramref name="history"/>, of which the first <paramref name="promptLength"/> are the prompt. Between two calls
    /// the history is expected to grow by the token the first returned; any other history is read afresh.
    /// </summary>
    public SampledToken Next(Tensor logits, IReadOnlyList<int> history, int promptLength)
    {
        if (logits.dim() != 2 || logits.shape[0] != 1)
            throw new ArgumentException($"Expected one row of logits, [1, vocabulary]; got [{string.Join(", ", logits.shape)}].", nameof(logits));
        using var scope = NewDisposeScope();
        _history.Update(history, promptLength);
        Tensor processed = _pipeline.Process(logits.to(float32), _history);
        Tensor chosen = _options.IsGreedy ? processed.argmax(-1, keepdim: true) : Draw(softmax(processed, -1));   // [1, 1]
        if (_options.LogProbabilities is not int requested)
            return new SampledToken((int)chosen.cpu().item<long>(), null);
        int top = (int)Math.Min(requested, logits.shape[^1]);

        // Log-probabilities of the distribution the token was drawn from; a filtered token's is minus infinity.
        Tensor logProbabilities = processed.log_softmax(-1);
        (Tensor values, Tensor indices) = logProbabilities.topk(top, -1);
        // One transfer to the host: the token, its log-probability, then the alternatives' log-probabilities and ids.
        double[] host = cat([chosen.to(float64), logProbabilities.gather(-1, chosen).to(float64), values.to(float64), indices.to(float64)], -1)
            .cpu().data<double>().ToArray();
        int token = (int)host[0];
        return new SampledToken(token, new GeneratedTokenLogProbability(token, host[1],
            [.. Enumerable.Range(0, top).Select(i => new TokenLogProbability((int)host[2 + top + i], host[2 + i]))]));
    }

    // Inverse transform sampling: one uniform draw from the row's generator against the cumulative distribution, where
    // torch's multinomial draws one exponential per vocabulary entry. A draw that rounding puts at the very top goes to
    // the last token with any probability, so a filtered-out token is never chosen.
    private Tensor Draw(Tensor probabilities)
    {
        Tensor cumulative = probabilities.cumsum(-1);
        Tensor total = cumulative.narrow(-1, cumulative.shape[^1] - 1, 1);
        Tensor target = rand(1, 1, device: probabilities.device, generator: _random) * total;
        Tensor lastLikely = (cumulative < total).sum(-1, keepdim: true);
        return minimum(searchsorted(cumulative, target, right: true), lastLikely);
    }

    /// <summary>
    /// The sampling distribution of logits with no history: the softmax of the logits after temperature, top-k, top-p
    /// and min-p (the temperature must be positive).
    /// </summary>
    public static Tensor Probabilities(Tensor logits, GenerationOptions options)
    {
        if (options.IsGreedy)
            throw new ArgumentException("Greedy decoding has no sampling distribution; set a positive Temperature.", nameof(options));
        using var scope = NewDisposeScope();
        using var pipeline = LogitsProcessorPipeline.SamplingWarpers(options);
        using var history = new RowHistory();
        return softmax(pipeline.Process(logits, history), -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The logits unchanged, except that every token top-k, top-p or min-p leave out (at the options' temperature, 1
    /// for greedy options) is set to minus infinity.
    /// </summary>
    public static Tensor Filter(Tensor logits, GenerationOptions options)
    {
        using var scope = NewDisposeScope();
        using var pipeline = LogitsProcessorPipeline.SamplingWarpers(options.IsGreedy ? options with { Temperature = 1 } : options);
        using var history = new RowHistory();
        Tensor warped = pipeline.Process(logits, history);
        return logits.masked_fill(warped.eq(double.NegativeInfinity), double.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>Frees the seeded generator and what the processors keep between steps.</summary>
    public void Dispose()
    {
        _random?.Dispose();
        _pipeline.Dispose();
        _history.Dispose();
    }
}
