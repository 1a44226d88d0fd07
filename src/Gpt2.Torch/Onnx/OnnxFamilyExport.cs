using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// How one model family is written as ONNX: the graphs every exporter and the ONNX Runtime engine build, from the family's
/// config and its parameters by checkpoint name. A family that can be exported returns one from
/// <see cref="LanguageModelConfig.OnnxExport"/>; the exporters and the engine choice ask for it instead of asking which
/// family a model is.
/// </summary>
internal abstract class OnnxFamilyExport
{
    /// <summary>Next-token logits, or class logits and probabilities given a classification head; see <see cref="Gpt2OnnxExporter.Export(CausalLanguageModel, string, Gpt2OnnxExportOptions?)"/>.</summary>
    public abstract OnnxModel Build(LanguageModelConfig config, Func<string, Tensor> parameter, Tensor? classifierWeight, Tensor? classifierBias,
        int? maxSequenceLength, OnnxWeightQuantization? quantization);

    /// <summary>A whole-continuation generator around ONNX Runtime's GreedySearch or Sampling operator; see <see cref="Gpt2OnnxExporter.ExportGenerator"/>.</summary>
    public abstract OnnxModel BuildGreedySearch(LanguageModelConfig config, Func<string, Tensor> parameter, int maxNewTokens, int endOfTextId, int padTokenId,
        OnnxSampling? sampling, OnnxWeightQuantization? quantization);

    /// <summary>The step decoder of the ONNX Runtime engine: logits at the last position, past keys and values in, present ones out.</summary>
    public abstract OnnxModel BuildStepDecoder(LanguageModelConfig config, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization);

    /// <summary>
    /// Writes the decoder, <c>genai_config.json</c> and the tokenizer files ONNX Runtime GenAI reads into <paramref name="folder"/>;
    /// a family without a built-in tokenizer copies them from <paramref name="tokenizerFolder"/> (the model's download folder) when given.
    /// </summary>
    public abstract void WriteGenAIFolder(LanguageModelConfig config, Func<string, Tensor> parameter, string folder, string? tokenizerFolder);
}
