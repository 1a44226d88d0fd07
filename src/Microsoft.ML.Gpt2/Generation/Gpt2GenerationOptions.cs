using Gpt2.Torch;
using Gpt2.Torch.Generation;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// How the GPT-2 components that write text decode: the <c>Generation</c> options of <see cref="Gpt2TextGenerator.Options"/>
/// and <see cref="Instructions.Gpt2InstructionTuner.Options"/>. Greedy decoding that stops at <c>&lt;|endoftext|&gt;</c>
/// (the default) is what a saved model zip reproduces exactly in ONNX Runtime.
/// </summary>
public sealed class Gpt2GenerationOptions
{
    /// <summary>The most tokens generated per row. A prompt keeps its last context length minus this many tokens.</summary>
    public int MaxNewTokens = 50;

    /// <summary>0 decodes greedily; above 0, samples from the softmax of the logits divided by it.</summary>
    public double Temperature;

    /// <summary>When sampling, only the this many most likely tokens are candidates.</summary>
    public int? TopK;

    /// <summary>When sampling, only the most likely tokens whose probabilities sum to this are candidates (nucleus sampling).</summary>
    public double? TopP;

    /// <summary>Texts that end a row's generation; the generated text stops before the first of them.</summary>
    public string[] StopStrings = [];

    /// <summary>Seed of sampling, for reproducible output.</summary>
    public long? Seed;

    /// <summary>Rows generated together in one left-padded batch.</summary>
    public int BatchSize = 8;

    /// <summary>Called after each batch of generated rows.</summary>
    public Action<TextGenerationProgress>? Progress;

    /// <summary>
    /// When set, the fitted transformer decodes in memory through ONNX Runtime instead of TorchSharp (faster on a CPU, and
    /// with <see cref="OnnxRuntimeDecoding.WeightQuantization"/> faster still; see <see cref="OnnxRuntimeDecoding"/>). A saved
    /// model zip runs in ONNX Runtime either way, with the weights of <c>SavedWeightQuantization</c>.
    /// </summary>
    public OnnxRuntimeDecoding? OnnxRuntime;

    internal GenerationOptions ToTextOptions() => new()
    {
        MaxNewTokens = MaxNewTokens,
        Temperature = Temperature,
        TopK = TopK,
        TopP = TopP,
        StopStrings = StopStrings,
        Seed = Seed,
    };

    internal void Validate()
    {
        ToTextOptions().Validate();
        OnnxRuntime?.Validate();
        OptionChecks.AtLeast(BatchSize, 1, "Generation." + nameof(BatchSize), "8");
    }
}
