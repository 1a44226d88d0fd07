using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// Divides the logits by a positive temperature: below 1 sharpens the distribution, above 1 flattens it. The largest
/// logit is subtracted first (which changes neither the distribution nor any filter after it), so that no temperature,
/// however small, overflows to infinity and turns the softmax into NaN.
/// </summary>
internal sealed class TemperatureProcessor(double temperature) : ILogitsProcessor
{
    public Tensor Process(Tensor logits, RowHistory history) => (logits - logits.amax([-1], keepdim: true)) / temperature;
}
