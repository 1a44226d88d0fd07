using Gpt2.Torch;
using Gpt2.Torch.Generation;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// How the GPT-2 components that write text decode: the <c>Generation</c> options of <see cref="Gpt2TextGenerator.Options"/>
/// and <see cref="Instructions.Gpt2InstructionTuner.Options"/>. <see cref="Sampling"/> is the generation options record every
/// front end shares; the rest is ML.NET's (batches, progress, the engine). Greedy decoding that stops at
/// <c>&lt;|endoftext|&gt;</c> (the default) is what a saved model zip reproduces exactly in ONNX Runtime; options a zip
/// cannot carry (top-k or min-p when sampling, penalties, logit bias, stop strings or sequences, log-probabilities, a
/// seed beyond 32 bits) are refused by name when the model is saved.
/// </summary>
public sealed class Gpt2GenerationOptions
{
    /// <summary>
    /// How tokens are chosen and when a row stops: <see cref="GenerationOptions.MaxNewTokens"/> (the most tokens generated
    /// per row; a prompt keeps its last context length minus this many tokens), temperature, top-k, top-p, min-p,
    /// penalties, logit bias, seed and stops. Set it whole or with <c>with</c>:
    /// <c>options.Generation.Sampling = options.Generation.Sampling with { Temperature = 0.7, Seed = 1 }</c>.
    /// </summary>
    public GenerationOptions Sampling = new();

    /// <summary>Rows generated together in one left-padded batch.</summary>
    public int BatchSize = 8;

    /// <summary>Called after each batch of generated rows.</summary>
    public Action<TextGenerationProgress>? Progress;

    /// <summary>
    /// Which engine the fitted transformer decodes with in memory: TorchSharp (the default), ONNX Runtime
    /// (<see cref="DecodingEngine.OnnxRuntime"/>, faster on a CPU, and with weight-only int8/int4 faster still), or
    /// <see cref="DecodingEngine.Auto"/> (ONNX Runtime float32 for a float32 model on the CPU without unmerged LoRA,
    /// TorchSharp otherwise), decided at the first generation, after training. A saved model zip runs in ONNX Runtime
    /// either way, with the weights of <c>SavedWeightQuantization</c>.
    /// </summary>
    public DecodingEngine Engine = DecodingEngine.TorchSharp;

    /// <summary>The path under which errors name <see cref="Sampling"/>'s options, as the user set them.</summary>
    internal const string SamplingPath = "Generation." + nameof(Sampling) + ".";

    internal void Validate()
    {
        if (Sampling is null)
            throw new ArgumentNullException(SamplingPath.TrimEnd('.'), $"{SamplingPath.TrimEnd('.')} cannot be null; leave it at new GenerationOptions() for greedy decoding.");
        try
        {
            Sampling.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentOutOfRangeException(SamplingPath + e.ParamName, e.ActualValue, SamplingPath + MessageOf(e));
        }
        catch (ArgumentException e) when (e.GetType() == typeof(ArgumentException))
        {
            throw new ArgumentException(SamplingPath + MessageOf(e), SamplingPath + e.ParamName, e);
        }
        if (Engine is null)
            throw new ArgumentNullException("Generation." + nameof(Engine), $"Generation.{nameof(Engine)} cannot be null; leave it at DecodingEngine.TorchSharp, or use DecodingEngine.Auto.");
        OptionChecks.AtLeast(BatchSize, 1, "Generation." + nameof(BatchSize), "8");
    }

    // ArgumentException.Message appends " (Parameter 'name')" (and the actual value) to the message the check wrote.
    private static string MessageOf(ArgumentException e)
    {
        int suffix = e.ParamName is null ? -1 : e.Message.IndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        string message = suffix < 0 ? e.Message : e.Message[..suffix];
        int actualValue = message.IndexOf(Environment.NewLine, StringComparison.Ordinal);
        return actualValue < 0 ? message : message[..actualValue];
    }
}
