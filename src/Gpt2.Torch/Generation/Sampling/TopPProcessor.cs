using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// Nucleus sampling: keeps the smallest set of most likely tokens whose probabilities (softmax of the logits as they
/// arrive, temperature applied) add up to <c>p</c>, and sets every other logit to minus infinity.
/// </summary>
internal sealed class TopPProcessor(double p) : ILogitsProcessor
{
    public Tensor Process(Tensor logits, RowHistory history)
    {
        (Tensor sorted, Tensor order) = logits.sort(-1, descending: true);
        Tensor probabilities = softmax(sorted, -1);
        // A token goes when the more likely tokens before it already reach p; so the most likely token always stays.
        Tensor drop = probabilities.cumsum(-1) - probabilities >= p;
        return logits.scatter(-1, order, sorted.masked_fill(drop, double.NegativeInfinity));
    }
}
