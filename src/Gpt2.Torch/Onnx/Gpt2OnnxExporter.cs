using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// Writes a <see cref="CausalLanguageModel"/> of a family with an ONNX export (GPT-2) as an ONNX model (opset 20, float32 weights inside the file) that ONNX Runtime
/// runs with the model's semantics for padded batches: inputs <c>input_ids</c> and
/// <c>attention_mask</c>, int64 [batch, sequence] with symbolic dimensions; outputs as chosen by
/// <see cref="Gpt2OnnxExportOptions"/>. Files are limited to 2 GB (GPT-2 up to the 355M preset).
/// </summary>
public static class Gpt2OnnxExporter
{
    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/>, atomically: an existing file is replaced only once the new one is complete.</summary>
    /// <param name="model">The model; its parameters may live on any device.</param>
    /// <param name="path">The <c>.onnx</c> file to write.</param>
    /// <param name="options">What to export; next-token logits when null.</param>
    public static void Export(CausalLanguageModel model, string path, Gpt2OnnxExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Build(model, options).WriteTo(path);
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="destination"/>, streaming one weight at a time.</summary>
    /// <param name="model">The model; its parameters may live on any device.</param>
    /// <param name="destination">Where the ONNX bytes go; left open.</param>
    /// <param name="options">What to export; next-token logits when null.</param>
    public static void Export(CausalLanguageModel model, Stream destination, Gpt2OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Build(model, options).WriteTo(destination);
    }

    /// <summary>
    /// Writes <paramref name="model"/> wrapped in ONNX Runtime's <c>com.microsoft.GreedySearch</c> (or <c>Sampling</c>) operator (in the
    /// Microsoft.ML.OnnxRuntime CPU package), so that one run generates whole continuations with a key/value cache: inputs
    /// <c>input_ids</c> and <c>attention_mask</c> (int64 [batch, sequence], prompts
    /// left-padded with <paramref name="padTokenId"/>), output <c>generated_ids</c> (int32 [batch,
    /// generated], each row's new tokens only; from a row's end of text on, <paramref name="padTokenId"/>, or the end-of-text id
    /// when there is no pad id, so a pad id must be one the model does not generate, or the end-of-text id). Prompts
    /// keep their last context length minus <paramref name="maxNewTokens"/> tokens. The file is written atomically.
    /// </summary>
    /// <param name="model">The model; its parameters may live on any device.</param>
    /// <param name="path">The <c>.onnx</c> file to write.</param>
    /// <param name="maxNewTokens">The most tokens generated per row, less than the model's context length.</param>
    /// <param name="endOfTextId">Generation of a row stops after this token (GPT-2's <c>&lt;|endoftext|&gt;</c> is 50256); null never stops early.</param>
    /// <param name="padTokenId">
    /// The prompts' left padding (tokens equal to it are not attended to and get no position) and the filling of finished
    /// rows; null when prompts are never padded.
    /// </param>
    /// <param name="sampling">Sample with ONNX Runtime's <c>com.microsoft.Sampling</c> operator instead of decoding greedily.</param>
    /// <param name="quantization">Store the decoder's matrices and output head quantized (<see cref="OnnxWeightQuantization"/>); float32 when null.</param>
    public static void ExportGenerator(CausalLanguageModel model, string path, int maxNewTokens, int? endOfTextId = null, int? padTokenId = null,
        OnnxSampling? sampling = null, OnnxWeightQuantization? quantization = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        OptionChecks.InRange(maxNewTokens, 1, model.Config.ContextLength - 1, nameof(maxNewTokens),
            $"{Math.Min(50, model.Config.ContextLength - 1)}: at least one prompt token must fit the context length of {model.Config.ContextLength}");
        sampling?.Validate();
        quantization?.Validate();
        ThrowIfAdapted(model);
        Dictionary<string, Tensor> parameters = model.state_dict();
        // -1 is no token id, so it never matches: ONNX Runtime requires both attributes.
        FamilyOf(model).BuildGreedySearch(model.Config, name => parameters[name], maxNewTokens, endOfTextId ?? -1, padTokenId ?? -1, sampling, quantization)
            .WriteTo(path);
    }

    /// <summary>
    /// Writes a model folder that ONNX Runtime GenAI (Microsoft.ML.OnnxRuntimeGenAI) loads with <c>new Model(folder)</c>, to
    /// run the model with its <c>Generator</c> (and its own <c>IChatClient</c>) on whatever hardware it supports: the decoder
    /// as <see cref="GenAIModelFileName"/> (GenAI's <c>gpt2</c> model type: inputs <c>input_ids</c>, <c>position_ids</c>,
    /// <c>attention_mask</c> (int32) and <c>past_0</c>..., outputs <c>logits</c> and <c>present_0</c>..., keys and values
    /// combined [2, batch, heads, sequence, head size]), <see cref="GenAIConfigFileName"/> (greedy search up to the context
    /// length by default; <c>&lt;|endoftext|&gt;</c> ends, begins and pads), and GPT-2's tokenizer files
    /// (<c>tokenizer.json</c>, which GenAI's tokenizer reads, and <c>vocab.json</c>, <c>merges.txt</c>, <c>tokenizer_config.json</c>).
    /// Existing files of those names are replaced.
    /// </summary>
    /// <param name="model">The model, without unmerged LoRA adapters.</param>
    /// <param name="folder">The folder to write; created when missing.</param>
    public static void ExportForOnnxRuntimeGenAI(CausalLanguageModel model, string folder) => ExportForOnnxRuntimeGenAI(model, folder, tokenizerFolder: null);

    /// <summary>
    /// <see cref="ExportForOnnxRuntimeGenAI(CausalLanguageModel, string)"/> for a family without a built-in tokenizer (Llama,
    /// Qwen2, Qwen3: GenAI's <c>llama</c>, <c>qwen2</c>, <c>qwen3</c> model types, keys and values as <c>past_key_values.%d.key</c>
    /// / <c>.value</c> in and <c>present.%d.key</c> / <c>.value</c> out): its <c>tokenizer.json</c>, <c>tokenizer_config.json</c>
    /// and <c>special_tokens_map.json</c> are copied from <paramref name="tokenizerFolder"/>. Without one the folder has no
    /// tokenizer, and GenAI takes token ids only (<c>Generator.AppendTokens</c>). GPT-2 writes its own tokenizer files either way.
    /// </summary>
    /// <param name="model">The model, without unmerged LoRA adapters.</param>
    /// <param name="folder">The folder to write; created when missing.</param>
    /// <param name="tokenizerFolder">The folder holding the model's Hugging Face tokenizer files (where it was downloaded), or null.</param>
    public static void ExportForOnnxRuntimeGenAI(CausalLanguageModel model, string folder, string? tokenizerFolder)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ThrowIfAdapted(model);
        OnnxFamilyExport family = FamilyOf(model);
        Directory.CreateDirectory(folder);
        Dictionary<string, Tensor> parameters = model.state_dict();
        family.WriteGenAIFolder(model.Config, name => parameters[name], folder, tokenizerFolder);
    }

    /// <summary>The decoder's file name in a folder of <see cref="ExportForOnnxRuntimeGenAI(CausalLanguageModel, string)"/>.</summary>
    public const string GenAIModelFileName = "model.onnx";

    /// <summary>ONNX Runtime GenAI's configuration file name.</summary>
    public const string GenAIConfigFileName = "genai_config.json";

    /// <summary>The family's ONNX graphs, or a <see cref="NotSupportedException"/> naming the family when it has none yet.</summary>
    internal static OnnxFamilyExport FamilyOf(CausalLanguageModel model) => model.Config.OnnxExport
        ?? throw new NotSupportedException(
            $"ONNX export of '{model.Config.ModelType}' models is not implemented yet; it covers {string.Join(", ", LanguageModelConfig.OnnxExportableModelTypes)}. " +
            "Decode with TorchSharp (DecodingEngine.TorchSharp) and save the model as a checkpoint instead.");

    // The graph reads weights by checkpoint name, so adapters would be left out without a word.
    private static void ThrowIfAdapted(CausalLanguageModel model)
    {
        if (model.LoRA is not null)
            throw new ArgumentException("The model has LoRA adapters that are not part of its weights; call model.MergeLoRA() before exporting it.", nameof(model));
    }

    private static OnnxModel Build(CausalLanguageModel model, Gpt2OnnxExportOptions? options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ThrowIfAdapted(model);
        FamilyOf(model);
        Tensor? weight = options?.ClassifierWeight, bias = options?.ClassifierBias;
        int width = model.Config.EmbeddingSize;
        if (weight is null && bias is not null)
            throw new ArgumentException("Gpt2OnnxExportOptions.ClassifierBias is set without ClassifierWeight; set both, or neither for next-token logits.", nameof(options));
        if (weight is not null && (weight.dim() != 2 || weight.shape[0] < 1 || weight.shape[1] != width))
            throw new ArgumentException(
                $"Gpt2OnnxExportOptions.ClassifierWeight must have shape [classes, {width}] (the model's embedding size), but has [{string.Join(", ", weight.shape)}].",
                nameof(options));
        if (weight is not null && bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0]))
            throw new ArgumentException(
                $"Gpt2OnnxExportOptions.ClassifierBias must have shape [{weight.shape[0]}] (one per class), but has [{string.Join(", ", bias.shape)}].",
                nameof(options));

        if (options?.MaxSequenceLength is int maxLength && (weight is null || maxLength < 1 || maxLength > model.Config.ContextLength))
            throw new ArgumentException(
                $"Gpt2OnnxExportOptions.MaxSequenceLength applies to classifiers only and must be in [1, {model.Config.ContextLength}], but is {maxLength}.",
                nameof(options));

        options?.WeightQuantization?.Validate();
        Dictionary<string, Tensor> parameters = model.state_dict();
        return FamilyOf(model).Build(model.Config, name => parameters[name], weight, bias, options?.MaxSequenceLength, options?.WeightQuantization);
    }
}
