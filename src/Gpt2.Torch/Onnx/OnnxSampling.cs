namespace Gpt2.Torch.Onnx;

/// <summary>How an exported generator samples with ONNX Runtime's <c>com.microsoft.Sampling</c> operator.</summary>
/// <param name="Temperature">Logits are divided by it before the softmax; above 0.</param>
/// <param name="TopP">Only the most likely tokens whose probabilities sum to this are candidates; 1 keeps every token.</param>
/// <param name="Seed">Seed of ONNX Runtime's random generator (its draws differ from TorchSharp's for the same seed); ONNX Runtime's default when null.</param>
public sealed record OnnxSampling(float Temperature, float TopP = 1, int? Seed = null)
{
    internal void Validate()
    {
        OptionChecks.Positive(Temperature, nameof(Temperature), "0.7; export greedy decoding without OnnxSampling");
        OptionChecks.Fraction(TopP, nameof(TopP), "0.9, or 1 to keep every token");
    }
}
