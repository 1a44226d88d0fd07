using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// Min-p sampling (Hugging Face's <c>MinPLogitsWarper</c>): keeps the tokens whose probability (softmax of the logits as
/// they arrive, temperature applied) is at least <c>minP</c> times the most likely token's, and sets every other logit
/// to minus infinity. The most likely token always stays.
/// </summary>
internal sealed class MinPProcessor(double minP) : ILogitsProcessor
{
    // p_i >= minP * p_max is logit_i >= logit_max + ln(minP): the softmax's normalizer cancels out.
    private readonly double _logMinP = Math.Log(minP);

    public Tensor Process(Tensor logits, RowHistory history) =>
        logits.masked_fill(logits < logits.amax([-1], keepdim: true) + _logMinP, FillValues.NegativeInfinity);
}
