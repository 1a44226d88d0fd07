using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// Nucleus sampling: keeps the smallest set of most likely tokens whose probabilities (softmax of the logits as they
/// arrive, temperature applied) add up to <c>p</c>, and sets every other logit to minus infinity. Tokens tied with the
/// least likely kept token stay too.
/// </summary>
/// <param name="p">The probability mass to keep, below 1.</param>
/// <param name="candidates">
/// When an earlier processor (top-k) left at most this many likely tokens, only they are sorted instead of the whole
/// vocabulary.
/// </param>
internal sealed class TopPProcessor(double p, int? candidates = null) : ILogitsProcessor
{
    // On the CPU, where reading a value back costs nothing, the most likely tokens are tried first, a few, then more:
    // when they already hold p of the mass, the nucleus lies among them and the vocabulary need not be sorted.
    private static readonly int[] LikelyFirst = [256, 4096];

    public Tensor Process(Tensor logits, RowHistory history)
    {
        long vocabulary = logits.shape[^1];
        Tensor probabilities = softmax(logits, -1);
        Tensor sorted = candidates is int k && k < vocabulary ? probabilities.topk(k, -1).values
            : logits.device_type == DeviceType.CPU ? MostLikelyHoldingP(probabilities)
            : probabilities.sort(-1, descending: true).Values;
        // A token goes when the more likely tokens before it already reach p; so the most likely token always stays.
        Tensor drop = sorted.cumsum(-1) - sorted >= p;
        Tensor least = sorted.masked_fill(drop, FillValues.PositiveInfinity).amin([-1], keepdim: true);
        return logits.masked_fill(probabilities < least, FillValues.NegativeInfinity);
    }

    // The largest probabilities in decreasing order, as few as the ladder allows while still holding p.
    private Tensor MostLikelyHoldingP(Tensor probabilities)
    {
        foreach (int count in LikelyFirst.Where(count => count < probabilities.shape[^1]))
        {
            Tensor likely = probabilities.topk(count, -1).values;
            if (likely.sum().to(float64).item<double>() >= p)
                return likely;
        }
        return probabilities.sort(-1, descending: true).Values;
    }
}
