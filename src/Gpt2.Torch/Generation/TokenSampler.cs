using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>The token a <see cref="TokenSampler"/> chose, with its log-probabilities when they were asked for.</summary>
internal readonly record struct SampledToken(int TokenId, GeneratedTokenLogProbability? LogProbabilities);

/// <summary>
/// One generation row's sampling: its logits processors, its seeded generator, and the choice of the next token from
/// the row's logits and its token history (see <see cref="GenerationOptions"/> for the order of the processors).
/// </summary>
internal sealed class TokenSampler : IDisposable
{
    private readonly GenerationOptions _options;
    private readonly Generator? _random;

    /// <param name="options">The row's options (validated).</param>
    /// <param name="device">Where the row's logits live (the seeded generator's device).</param>
    public TokenSampler(GenerationOptions options, Device device)
    {
        _options = options;
        _random = options.Seed is long seed && !options.IsGreedy ? new Generator((ulong)seed, device) : null;
    }

    /// <summary>
    /// Whether the next token is the argmax of the raw logits and nothing else is asked (no processor that changes the
    /// ranking, no log-probabilities): such rows of a batch can share one argmax.
    /// </summary>
    public bool IsPlainGreedy => _options.IsGreedy && _options.LogProbabilities is null;

    /// <summary>The next token for logits [1, vocab] of a row whose tokens so far are <paramref name="history"/>, of which the first <paramref name="promptLength"/> are the prompt.</summary>
    public SampledToken Next(Tensor logits, IReadOnlyList<int> history, int promptLength)
    {
        using var scope = NewDisposeScope();
        Tensor processed = Filter(logits.to(float32), _options);
        Tensor chosen = _options.IsGreedy
            ? processed.argmax(-1)
            : softmax(processed / _options.Temperature, -1).multinomial(1, generator: _random).squeeze(-1);
        int token = (int)chosen.cpu().data<long>()[0];
        if (_options.LogProbabilities is not int top)
            return new SampledToken(token, null);
        Tensor logProbabilities = (_options.IsGreedy ? processed : processed / _options.Temperature).log_softmax(-1).squeeze(0).to(float64);
        (Tensor values, Tensor indices) = logProbabilities.topk(top);
        double[] topValues = values.cpu().data<double>().ToArray();
        long[] topIndices = indices.cpu().data<long>().ToArray();
        double chosenValue = logProbabilities[token].cpu().item<double>();
        return new SampledToken(token, new GeneratedTokenLogProbability(token, chosenValue,
            [.. topIndices.Select((id, i) => new TokenLogProbability((int)id, topValues[i]))]));
    }

    /// <summary>The sampling distribution: softmax of the filtered logits divided by the temperature (which must be positive).</summary>
    public static Tensor Probabilities(Tensor logits, GenerationOptions options)
    {
        if (options.IsGreedy)
            throw new ArgumentException("Greedy decoding has no sampling distribution; set a positive Temperature.", nameof(options));
        return softmax(Filter(logits, options) / options.Temperature, -1);
    }

    /// <summary>Logits with every token outside the top-k and the top-p nucleus set to minus infinity.</summary>
    public static Tensor Filter(Tensor logits, GenerationOptions options)
    {
        if (options.TopK is int k && k < logits.shape[^1])
        {
            Tensor kth = logits.topk(k, -1).values.narrow(-1, k - 1, 1);
            logits = logits.masked_fill(logits < kth, double.NegativeInfinity);
        }
        if (options.TopP is double p && p < 1)
        {
            (Tensor sorted, Tensor order) = logits.sort(-1, descending: true);
            Tensor probabilities = softmax(options.IsGreedy ? sorted : sorted / options.Temperature, -1);
            // Drop a token when the tokens before it already reach p; the most likely token always stays.
            Tensor drop = probabilities.cumsum(-1) - probabilities >= p;
            logits = logits.scatter(-1, order, sorted.masked_fill(drop, double.NegativeInfinity));
        }
        return logits;
    }

    /// <summary>Frees the seeded generator.</summary>
    public void Dispose() => _random?.Dispose();
}
