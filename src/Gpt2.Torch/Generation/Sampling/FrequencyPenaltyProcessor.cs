using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>OpenAI's frequency penalty: the penalty times the number of times a token was generated is subtracted from its logit (prompt tokens do not count).</summary>
internal sealed class FrequencyPenaltyProcessor(double penalty) : ILogitsProcessor
{
    public Tensor Process(Tensor logits, RowHistory history) => logits.add(history.OutputCounts(logits), -penalty);
}
