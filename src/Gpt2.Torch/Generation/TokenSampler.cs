using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>Picks next tokens from logits [batch, vocab]: greedy, or sampling with temperature, top-k and top-p.</summary>
internal static class TokenSampler
{
    /// <summary>Next-token ids [batch] for logits [batch, vocab].</summary>
    public static Tensor Next(Tensor logits, GenerationOptions options, Generator? generator = null) =>
        options.IsGreedy ? logits.argmax(-1) : Probabilities(logits, options).multinomial(1, generator: generator).squeeze(-1);

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
}
