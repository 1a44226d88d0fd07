using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// Hugging Face's repetition penalty (from the CTRL paper): the logit of every token that occurs in the row, prompt or
/// output, is divided by the penalty when positive and multiplied by it otherwise, so that a penalty above 1 always
/// makes a seen token less likely. Each distinct token is penalized once, however often it occurs.
/// </summary>
internal sealed class RepetitionPenaltyProcessor(double penalty) : ILogitsProcessor
{
    public Tensor Process(Tensor logits, RowHistory history)
    {
        Tensor seen = history.DistinctTokens(logits).unsqueeze(0);
        Tensor scores = logits.gather(-1, seen);
        return logits.scatter(-1, seen, where(scores > 0, scores / penalty, scores * penalty));
    }
}
