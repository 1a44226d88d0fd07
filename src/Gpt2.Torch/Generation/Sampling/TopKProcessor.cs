using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>Keeps the <c>k</c> highest logits (and any tied with the k-th) and sets every other to minus infinity.</summary>
internal sealed class TopKProcessor(int k) : ILogitsProcessor
{
    public Tensor Process(Tensor logits, RowHistory history)
    {
        if (k >= logits.shape[^1])
            return logits;
        Tensor kth = logits.topk(k, -1).values.narrow(-1, k - 1, 1);
        return logits.masked_fill(logits < kth, FillValues.NegativeInfinity);
    }
}
