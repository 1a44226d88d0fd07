using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// Min-p sampling (Hugging Face's <c>MinPLogitsWarper</c>): keeps the tokens whose probability (softmax of the logits as
/// they arrive, temperature applied) is at least <c>minP</c> times the most likely token's, and sets every other logit
/// to minus infinity. The most likely token always stays.
/// </summary>
internal sealed class MinPProcessor(double minP) : ILogitsProcessor
{
    public Tensor Process(Tensor logits, RowHistory history)
    {
        Tensor probabilities = softmax(logits, -1);
        Tensor threshold = probabilities.amax([-1], keepdim: true) * minP;
        return logits.masked_fill(probabilities < threshold, double.NegativeInfinity);
    }
}
