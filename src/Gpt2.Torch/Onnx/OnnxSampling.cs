namespace Gpt2.Torch.Onnx;

/// <summary>How an exported generator samples with ONNX Runtime's <c>com.microsoft.Sampling</c> operator.</summary>
/// <param name="Temperature">Logits are divided by it before the softmax; above 0.</param>
/// <param name="TopP">Only the most likely tokens whose probabilities sum to this are candidates; 1 keeps every token.</param>
/// <param name="Seed">Seed of ONNX Runtime's random generator (its draws differ from TorchSharp's for the same seed); ONNX Runtime's default when null.</param>
public sealed record OnnxSampling(float Temperature, float TopP = 1, int? Seed = null)
{
    internal void Validate()
    {
        if (!(Temperature > 0) || float.IsInfinity(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be positive; export greedy decoding without OnnxSampling.");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
    }
}
