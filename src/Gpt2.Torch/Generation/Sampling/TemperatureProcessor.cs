using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>Divides the logits by a positive temperature: below 1 sharpens the distribution, above 1 flattens it.</summary>
internal sealed class TemperatureProcessor(double temperature) : ILogitsProcessor
{
    public Tensor Process(Tensor logits, RowHistory history) => logits / temperature;
}
