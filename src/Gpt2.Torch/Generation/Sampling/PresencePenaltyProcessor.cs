using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>OpenAI's presence penalty: subtracted once from the logit of every token generated at least once (prompt tokens do not count).</summary>
internal sealed class PresencePenaltyProcessor(double penalty) : ILogitsProcessor
{
    public Tensor Process(Tensor logits, RowHistory history) => logits.add(history.OutputCounts(logits).clamp_max(1), -penalty);
}
