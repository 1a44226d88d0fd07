using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

/// <summary>
/// The shape of a Llama-architecture model: Llama 3.x and SmolLM2 (<c>model_type</c> <c>llama</c>), Qwen2 and Qwen2.5
/// (<c>qwen2</c>: biases on the query/key/value projections) and Qwen3 (<c>qwen3</c>: per-head RMSNorm on queries and
/// keys, an explicit head width). Reads and writes Hugging Face <c>config.json</c> files; <see cref="FromPreset"/> gives
/// the published sizes.
/// </summary>
public sealed record LlamaConfig : LanguageModelConfig
{
    /// <summary>The <c>model_type</c> values this record reads.</summary>
    public static new IReadOnlyList<string> ModelTypes { get; } = ["llama", "qwen2", "qwen3"];

    /// <summary><c>llama</c>, <c>qwen2</c> or <c>qwen3</c> (<c>model_type</c>).</summary>
    public override string ModelType { get; init; } = "llama";

    /// <summary>Number of token ids (<c>vocab_size</c>).</summary>
    public override int VocabSize { get; init; } = 32000;

    /// <summary>Longest sequence (<c>max_position_embeddings</c>).</summary>
    public override int ContextLength { get; init; } = 2048;

    /// <summary>Width of the residual stream (<c>hidden_size</c>).</summary>
    public override int EmbeddingSize { get; init; } = 4096;

    /// <summary>Query heads (<c>num_attention_heads</c>).</summary>
    public override int HeadCount { get; init; } = 32;

    /// <summary>Blocks (<c>num_hidden_layers</c>).</summary>
    public override int LayerCount { get; init; } = 32;

    /// <summary>Whether the output head shares the token embedding's weight (<c>tie_word_embeddings</c>).</summary>
    public override bool TieWordEmbeddings { get; init; }

    /// <summary>
    /// Key/value heads (<c>num_key_value_heads</c>); <see cref="LanguageModelConfig.HeadCount"/> when null (as
    /// <see cref="FromJson"/> leaves it when the file sets it to the query heads). Must divide the query heads.
    /// </summary>
    public int? KeyValueHeads { get; init; }

    /// <summary>
    /// Width of one head (<c>head_dim</c>); hidden size / heads when null (as <see cref="FromJson"/> leaves it when the
    /// file sets it to that). Qwen3 sets it explicitly, so the query width (heads x head width) may differ from the
    /// hidden size.
    /// </summary>
    public int? HeadDimension { get; init; }

    /// <summary>Width of the SwiGLU MLP's hidden layer (<c>intermediate_size</c>).</summary>
    public int MlpSize { get; init; } = 11008;

    /// <summary>Epsilon of every RMSNorm (<c>rms_norm_eps</c>).</summary>
    public double RmsNormEpsilon { get; init; } = 1e-6;

    /// <summary>Base of the rotary position embedding's wavelengths (<c>rope_theta</c>).</summary>
    public double RopeTheta { get; init; } = 10000;

    /// <summary>
    /// Llama 3's stretching of the rotary frequencies for long contexts (<c>rope_scaling</c> with <c>rope_type</c>
    /// <c>llama3</c>), or null for plain rotary embeddings.
    /// </summary>
    public Llama3RopeScaling? RopeScaling { get; init; }

    /// <summary>
    /// Whether the four attention projections (query, key, value, output) have biases (<c>attention_bias</c>, Llama and
    /// Qwen3). Qwen2 ignores it: its query, key and value projections always have biases and its output projection none.
    /// </summary>
    public bool AttentionBias { get; init; }

    /// <summary>Dropout rate on the attention weights during training (<c>attention_dropout</c>).</summary>
    public double AttentionDropout { get; init; }

    /// <summary>The gate's activation in the SwiGLU MLP (<c>hidden_act</c>): <c>silu</c> (<c>swish</c> is the same function).</summary>
    public string ActivationFunction { get; init; } = "silu";

    /// <summary>Standard deviation of the normal distribution random weights are drawn from (<c>initializer_range</c>).</summary>
    public double InitializerRange { get; init; } = 0.02;

    /// <summary>
    /// The fields of a Hugging Face <c>config.json</c> that this record does not model and that do not change the
    /// computation (token ids, <c>architectures</c>, <c>torch_dtype</c>, an unused <c>sliding_window</c>, ...), as one
    /// compact JSON object with sorted keys, or null for none. <see cref="FromJson"/> fills it and <see cref="ToJson"/>
    /// writes it back, so that loading and saving a checkpoint keeps them.
    /// </summary>
    public override string? ExtraFieldsJson { get; init; }

    /// <inheritdoc />
    public override int KeyValueHeadCount => KeyValueHeads ?? HeadCount;

    /// <inheritdoc />
    public override int HeadSize => HeadDimension ?? EmbeddingSize / HeadCount;

    /// <summary>Whether the query, key and value projections have biases (Qwen2 always; the others with <see cref="AttentionBias"/>).</summary>
    internal bool QueryKeyValueBias => ModelType == "qwen2" || AttentionBias;

    /// <summary>Whether the attention's output projection has a bias (never for Qwen2).</summary>
    internal bool OutputBias => ModelType != "qwen2" && AttentionBias;

    /// <summary>Whether queries and keys pass through a per-head RMSNorm before the rotation (Qwen3).</summary>
    internal bool QueryKeyNorm => ModelType == "qwen3";

    /// <inheritdoc />
    public override LlamaModel CreateModel(Device? device = null) => new(this, device);

    private static readonly Onnx.OnnxFamilyExport LlamaOnnx = Onnx.LlamaOnnxGraph.Family(config => Onnx.LlamaOnnxShape.FromConfigJson(config.ToJson()));

    internal override Onnx.OnnxFamilyExport OnnxExport => LlamaOnnx;

    internal override LanguageModelConfig WithoutDropout() => this with { AttentionDropout = 0 };

    internal override CausalLanguageModel LoadCheckpoint(string folder, Device? device) =>
        Checkpoints.HuggingFaceCheckpoint.LoadLlama(folder, this, device);

    /// <summary>
    /// Number of parameters a model of this shape has (a tied head counted once), computed from the shapes without
    /// building it.
    /// </summary>
    public long ParameterCount
    {
        get
        {
            long e = EmbeddingSize, q = (long)HeadCount * HeadSize, kv = (long)KeyValueHeadCount * HeadSize, vocab = VocabSize;
            long attention = e * q + 2 * e * kv + q * e + (QueryKeyValueBias ? q + 2 * kv : 0) + (OutputBias ? e : 0) + (QueryKeyNorm ? 2L * HeadSize : 0);
            long block = attention + 3 * e * MlpSize + 2 * e;
            return vocab * e + LayerCount * block + e + (TieWordEmbeddings ? 0 : vocab * e);
        }
    }

    // The published configs (config.json on the Hugging Face Hub) of the sizes FromPreset names: the fields that shape the
    // computation, by Hugging Face repository id; the short name is the repository's name in lower case.
    private static readonly (string Id, LlamaConfig Config)[] Presets =
    [
        ("HuggingFaceTB/SmolLM2-135M", new()
        {
            VocabSize = 49152, EmbeddingSize = 576, MlpSize = 1536, LayerCount = 30, HeadCount = 9, KeyValueHeads = 3,
            ContextLength = 8192, RopeTheta = 100000, RmsNormEpsilon = 1e-5, TieWordEmbeddings = true, InitializerRange = 0.041666666666666664,
        }),
        ("HuggingFaceTB/SmolLM2-360M", new()
        {
            VocabSize = 49152, EmbeddingSize = 960, MlpSize = 2560, LayerCount = 32, HeadCount = 15, KeyValueHeads = 5,
            ContextLength = 8192, RopeTheta = 100000, RmsNormEpsilon = 1e-5, TieWordEmbeddings = true,
        }),
        ("HuggingFaceTB/SmolLM2-1.7B", new()
        {
            VocabSize = 49152, EmbeddingSize = 2048, MlpSize = 8192, LayerCount = 24, HeadCount = 32,
            ContextLength = 8192, RopeTheta = 130000, RmsNormEpsilon = 1e-5, TieWordEmbeddings = true,
        }),
        ("Qwen/Qwen2.5-0.5B", new()
        {
            ModelType = "qwen2", VocabSize = 151936, EmbeddingSize = 896, MlpSize = 4864, LayerCount = 24, HeadCount = 14, KeyValueHeads = 2,
            ContextLength = 32768, RopeTheta = 1000000, RmsNormEpsilon = 1e-6, TieWordEmbeddings = true,
        }),
        ("Qwen/Qwen2.5-1.5B", new()
        {
            ModelType = "qwen2", VocabSize = 151936, EmbeddingSize = 1536, MlpSize = 8960, LayerCount = 28, HeadCount = 12, KeyValueHeads = 2,
            ContextLength = 131072, RopeTheta = 1000000, RmsNormEpsilon = 1e-6, TieWordEmbeddings = true,
        }),
        ("Qwen/Qwen3-0.6B", new()
        {
            ModelType = "qwen3", VocabSize = 151936, EmbeddingSize = 1024, MlpSize = 3072, LayerCount = 28, HeadCount = 16, KeyValueHeads = 8,
            HeadDimension = 128, ContextLength = 40960, RopeTheta = 1000000, RmsNormEpsilon = 1e-6, TieWordEmbeddings = true,
        }),
        ("Qwen/Qwen3-1.7B", new()
        {
            ModelType = "qwen3", VocabSize = 151936, EmbeddingSize = 2048, MlpSize = 6144, LayerCount = 28, HeadCount = 16, KeyValueHeads = 8,
            ContextLength = 40960, RopeTheta = 1000000, RmsNormEpsilon = 1e-6, TieWordEmbeddings = true,
        }),
        ("meta-llama/Llama-3.2-1B", new()
        {
            VocabSize = 128256, EmbeddingSize = 2048, MlpSize = 8192, LayerCount = 16, HeadCount = 32, KeyValueHeads = 8,
            ContextLength = 131072, RopeTheta = 500000, RopeScaling = Llama3RopeScaling.Llama32, RmsNormEpsilon = 1e-5, TieWordEmbeddings = true,
        }),
        ("meta-llama/Llama-3.2-3B", new()
        {
            VocabSize = 128256, EmbeddingSize = 3072, MlpSize = 8192, LayerCount = 28, HeadCount = 24, KeyValueHeads = 8,
            ContextLength = 131072, RopeTheta = 500000, RopeScaling = Llama3RopeScaling.Llama32, RmsNormEpsilon = 1e-5, TieWordEmbeddings = true,
        }),
    ];

    /// <summary>The short preset names <see cref="FromPreset"/> accepts (each also by its Hugging Face id).</summary>
    public static new IReadOnlyList<string> PresetNames { get; } = [.. Presets.Select(p => ShortName(p.Id))];

    /// <summary>The Hugging Face ids of the presets, in the order of <see cref="PresetNames"/>.</summary>
    public static IReadOnlyList<string> PresetIds { get; } = [.. Presets.Select(p => p.Id)];

    private static string ShortName(string id) => id[(id.IndexOf('/') + 1)..].ToLowerInvariant();

    /// <summary>
    /// A published size by its short name (<c>smollm2-135m</c>, <c>qwen2.5-0.5b</c>, <c>qwen3-0.6b</c>,
    /// <c>llama-3.2-1b</c>, ...; see <see cref="PresetNames"/>) or its Hugging Face id (<c>HuggingFaceTB/SmolLM2-135M</c>),
    /// case-insensitively: the fields of its published <c>config.json</c> that shape the computation.
    /// </summary>
    /// <exception cref="ArgumentException">No preset has that name.</exception>
    public static new LlamaConfig FromPreset(string name) =>
        TryFromPreset(name, out LlamaConfig? config) ? config : throw new ArgumentException(
            $"Unknown Llama-family preset '{name}'. Use one of {string.Join(", ", PresetNames)} (or their Hugging Face ids), or build a LlamaConfig with the sizes you want.",
            nameof(name));

    /// <summary>The Hugging Face id of the preset named <paramref name="name"/> (short name or id, any case), or null when none has that name.</summary>
    internal static string? PresetIdOf(string name) =>
        Presets.Select(p => p.Id).FirstOrDefault(id => string.Equals(name, id, StringComparison.OrdinalIgnoreCase) || string.Equals(name, ShortName(id), StringComparison.OrdinalIgnoreCase));

    /// <summary>The preset named <paramref name="name"/> (short name or Hugging Face id, any case), if there is one.</summary>
    internal static bool TryFromPreset(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out LlamaConfig? config)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach ((string id, LlamaConfig preset) in Presets)
        {
            if (string.Equals(name, id, StringComparison.OrdinalIgnoreCase) || string.Equals(name, ShortName(id), StringComparison.OrdinalIgnoreCase))
            {
                config = preset;
                return true;
            }
        }
        config = null;
        return false;
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when the settings cannot form a model, and <see cref="NotSupportedException"/>
    /// when they ask for a computation <see cref="LlamaModel"/> does not do (another activation, sliding-window attention,
    /// rotary scalings other than Llama 3's, mixtures of experts, quantized weights, ...), naming the field.
    /// </summary>
    public override void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0)
                throw new ArgumentException($"LlamaConfig.{name} must be positive, but is {value}.");
        }
        if (!ModelTypes.Contains(ModelType))
            throw new ArgumentException($"LlamaConfig.ModelType must be one of {string.Join(", ", ModelTypes)}, but is '{ModelType}'; use the config record of that family (LanguageModelConfig.FromJson picks it).");
        Positive(VocabSize, nameof(VocabSize));
        Positive(ContextLength, nameof(ContextLength));
        Positive(EmbeddingSize, nameof(EmbeddingSize));
        Positive(HeadCount, nameof(HeadCount));
        Positive(LayerCount, nameof(LayerCount));
        Positive(MlpSize, nameof(MlpSize));
        Positive(KeyValueHeadCount, nameof(KeyValueHeads));
        if (HeadDimension is int head)
            Positive(head, nameof(HeadDimension));
        else if (EmbeddingSize % HeadCount != 0)
            throw new ArgumentException($"LlamaConfig.EmbeddingSize ({EmbeddingSize}) must be a multiple of HeadCount ({HeadCount}), or HeadDimension (head_dim) must be set.");
        if (HeadSize % 2 != 0)
            throw new ArgumentException($"LlamaConfig.HeadSize ({HeadSize}) must be even: the rotary embedding turns pairs of dimensions.");
        if (HeadCount % KeyValueHeadCount != 0)
            throw new ArgumentException($"LlamaConfig.HeadCount ({HeadCount}) must be a multiple of KeyValueHeads (num_key_value_heads, {KeyValueHeadCount}): each key/value head serves a group of query heads.");
        if (!(RmsNormEpsilon > 0))
            throw new ArgumentException($"LlamaConfig.RmsNormEpsilon (rms_norm_eps) must be positive, but is {RmsNormEpsilon}.");
        if (!(RopeTheta > 0) || double.IsInfinity(RopeTheta))
            throw new ArgumentException($"LlamaConfig.RopeTheta (rope_theta) must be positive, but is {RopeTheta}.");
        if (AttentionDropout is < 0 or >= 1 || double.IsNaN(AttentionDropout))
            throw new ArgumentException($"LlamaConfig.AttentionDropout (attention_dropout) must be in [0, 1), but is {AttentionDropout}.");
        if (!(InitializerRange > 0))
            throw new ArgumentException($"LlamaConfig.InitializerRange (initializer_range) must be positive, but is {InitializerRange}.");
        RopeScaling?.Validate();
        if (ActivationFunction is not ("silu" or "swish"))
            throw new NotSupportedException(
                $"config.json field 'hidden_act' is '{ActivationFunction}': LlamaModel's MLP gates with SiLU ('silu'); load the model with a library that computes '{ActivationFunction}'.");
        JsonObject extras = ExtraFields() ?? [];
        foreach ((string field, JsonNode? value) in extras)
        {
            // Qwen2 has no attention_bias property: its value is kept here and checked below.
            if (ModeledFields.Contains(field) && !(field == "attention_bias" && ModelType == "qwen2"))
                throw new ArgumentException($"LlamaConfig.ExtraFieldsJson holds '{field}', which LlamaConfig models; set its property instead.");
            if (UncomputedReason(field, value) is string reason)
                throw new NotSupportedException($"config.json field '{field}' is {value!.ToJsonString()}: {reason}");
        }
        if (ModelType == "qwen2" && extras["attention_bias"] is JsonValue bias && bias.TryGetValue(out bool withBias) && !withBias)
            throw new NotSupportedException(
                "config.json field 'attention_bias' is false, but a qwen2 model always has biases on its query, key and value projections; remove the field (or use model_type 'llama' for a model without them).");
        CheckSlidingWindow(extras);
    }

    // Qwen2 and Qwen3 attend within a window on the layers from max_window_layers on when use_sliding_window is true
    // (or on the layers layer_types names); a window as long as the context changes nothing.
    private void CheckSlidingWindow(JsonObject extras)
    {
        if (extras["layer_types"] is JsonArray types)
        {
            foreach (JsonNode? type in types)
            {
                if (type?.GetValueKind() != JsonValueKind.String || type.GetValue<string>() is not ("full_attention" or "sliding_attention"))
                    throw new NotSupportedException(
                        $"config.json field 'layer_types' names the layer kind {type?.ToJsonString() ?? "null"}; LlamaModel computes full attention only. Use a checkpoint of the plain architecture.");
            }
        }
        if (!(extras["use_sliding_window"] is JsonValue use && use.TryGetValue(out bool on) && on))
            return;
        if (extras["sliding_window"] is not JsonValue windowValue || !windowValue.TryGetValue(out double window) || window >= ContextLength)
            return;
        bool anySliding = extras["layer_types"] is JsonArray layerTypes
            ? layerTypes.Any(type => type?.GetValue<string>() == "sliding_attention")
            : LayerCount > (extras["max_window_layers"] is JsonValue first && first.TryGetValue(out int firstSliding) ? firstSliding : ModelType == "llama" ? LayerCount : 28);
        if (ModelType != "llama" && anySliding)
            throw new NotSupportedException(
                $"config.json field 'use_sliding_window' is true with 'sliding_window' {window}, shorter than the context of {ContextLength}: some layers attend within a sliding window, which LlamaModel does not compute. " +
                $"Set 'use_sliding_window' to false (the published Qwen2.5 and Qwen3 models do), or lower 'max_position_embeddings' to {window}.");
    }

    // The config.json fields read into properties (and the rope fields read into RopeTheta and RopeScaling).
    private static readonly HashSet<string> ModeledFields =
    [
        "model_type", "vocab_size", "max_position_embeddings", "hidden_size", "num_attention_heads", "num_hidden_layers", "tie_word_embeddings",
        "num_key_value_heads", "head_dim", "intermediate_size", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters", "attention_bias",
        "attention_dropout", "hidden_act", "initializer_range",
    ];

    // Why a field with this value asks for a computation LlamaModel does not do; null when it does not.
    private static string? UncomputedReason(string field, JsonNode? value)
    {
        static bool IsTrue(JsonNode? node) => node is JsonValue v && v.TryGetValue(out bool on) && on;
        static bool IsPositive(JsonNode? node) => node is JsonValue v && v.TryGetValue(out double number) && number > 0;
        static bool IsAbove(JsonNode? node, double limit) => node is JsonValue v && v.TryGetValue(out double number) && number > limit;
        return field switch
        {
            "mlp_bias" when IsTrue(value) =>
                "the MLP's projections have biases, which LlamaModel does not have. Use a checkpoint without MLP biases.",
            "pretraining_tp" when IsAbove(value, 1) =>
                "Hugging Face splits each projection into that many slices (tensor-parallel pretraining), which LlamaModel does not emulate; set it to 1.",
            "quantization_config" when value is not null =>
                "its weights are quantized, and LlamaModel computes with floating-point weights. Use an unquantized checkpoint.",
            "num_experts" or "num_local_experts" or "n_routed_experts" or "num_experts_per_tok" or "moe_intermediate_size" when IsPositive(value) =>
                "it describes a mixture of experts, and LlamaModel has one dense MLP per block. Use a dense checkpoint.",
            "use_mrope" when IsTrue(value) =>
                "it asks for multimodal rotary embeddings (Qwen2-VL), which LlamaModel does not compute. Use a text-only checkpoint.",
            "partial_rotary_factor" when value is JsonValue v && v.TryGetValue(out double factor) && factor != 1 =>
                "only part of each head is rotated, and LlamaModel rotates the whole head. Use a checkpoint with the factor 1.",
            "is_encoder_decoder" when IsTrue(value) =>
                "it describes an encoder-decoder model; LlamaModel is decoder-only.",
            _ => null,
        };
    }

    private JsonObject? ExtraFields() => ExtraFieldsJson is null ? null
        : JsonNode.Parse(ExtraFieldsJson) as JsonObject ?? throw new ArgumentException("LlamaConfig.ExtraFieldsJson must hold a JSON object.");

    /// <summary>Each model type's architecture class, which <see cref="ToJson"/> writes when <c>architectures</c> is not kept.</summary>
    private static JsonArray DefaultArchitectures(string modelType) => modelType switch
    {
        "qwen2" => ["Qwen2ForCausalLM"],
        "qwen3" => ["Qwen3ForCausalLM"],
        _ => ["LlamaForCausalLM"],
    };

    // Hugging Face's defaults of the fields a config.json may leave out, by model type (LlamaConfig, Qwen2Config, Qwen3Config).
    private static LlamaConfig Defaults(string modelType) => modelType switch
    {
        "qwen2" => new() { ModelType = "qwen2", VocabSize = 151936, ContextLength = 32768, MlpSize = 22016 },
        "qwen3" => new() { ModelType = "qwen3", VocabSize = 151936, ContextLength = 32768, MlpSize = 22016, HeadDimension = 128 },
        _ => new(),
    };

    /// <summary>
    /// Reads a Hugging Face <c>config.json</c> of model type <c>llama</c>, <c>qwen2</c> or <c>qwen3</c>: every field of
    /// Hugging Face's <c>LlamaConfig</c>, <c>Qwen2Config</c> and <c>Qwen3Config</c> that changes the computation becomes a
    /// property (the rotary settings from <c>rope_theta</c> and <c>rope_scaling</c>, or from the newer
    /// <c>rope_parameters</c>); the others are kept in <see cref="ExtraFieldsJson"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The text is not a JSON object, or a field has the wrong type.</exception>
    /// <exception cref="NotSupportedException">The config asks for a computation <see cref="LlamaModel"/> does not do; the message names the field.</exception>
    /// <exception cref="ArgumentException">The sizes cannot form a model.</exception>
    public static new LlamaConfig FromJson(string json)
    {
        JsonObject root = JsonNode.Parse(json) as JsonObject
            ?? throw new InvalidDataException("config.json must hold a JSON object.");

        string modelType = Value<string>(root, "model_type", "a string")
            ?? throw new InvalidDataException($"config.json has no 'model_type'; a Llama-family config names one of {string.Join(", ", ModelTypes)}.");
        if (!ModelTypes.Contains(modelType))
            throw new NotSupportedException($"config.json field 'model_type' is '{modelType}', not one of the Llama family's {string.Join(", ", ModelTypes)}; LanguageModelConfig.FromJson picks the family's config.");
        int? Int(string key) => root[key] is null ? null : Value<int>(root, key, "an integer");
        double? Double(string key) => root[key] is null ? null : Value<double>(root, key, "a number");
        bool? Bool(string key) => root[key] is null ? null : Value<bool>(root, key, "true or false");

        LlamaConfig defaults = Defaults(modelType);
        (double theta, Llama3RopeScaling? scaling) = ReadRope(root, defaults.RopeTheta);
        var extras = new JsonObject();
        foreach ((string key, JsonNode? value) in root.Where(field => !ModeledFields.Contains(field.Key)).OrderBy(field => field.Key, StringComparer.Ordinal))
            extras[key] = value?.DeepClone();
        // Qwen2 has no attention_bias: a value there is kept (and checked by Validate) rather than modeled.
        if (modelType == "qwen2" && root["attention_bias"] is JsonNode qwen2Bias)
            extras["attention_bias"] = qwen2Bias.DeepClone();
        if (extras["architectures"] is JsonNode architectures && JsonNode.DeepEquals(architectures, DefaultArchitectures(modelType)))
            extras.Remove("architectures");
        int embeddingSize = Int("hidden_size") ?? defaults.EmbeddingSize, headCount = Int("num_attention_heads") ?? defaults.HeadCount;
        int? keyValueHeads = Int("num_key_value_heads"), headDimension = Int("head_dim") ?? defaults.HeadDimension;
        var config = new LlamaConfig
        {
            ModelType = modelType,
            VocabSize = Int("vocab_size") ?? defaults.VocabSize,
            ContextLength = Int("max_position_embeddings") ?? defaults.ContextLength,
            EmbeddingSize = embeddingSize,
            HeadCount = headCount,
            LayerCount = Int("num_hidden_layers") ?? defaults.LayerCount,
            TieWordEmbeddings = Bool("tie_word_embeddings") ?? defaults.TieWordEmbeddings,
            // Null when they say what null means, so that equal shapes are equal records whichever way a file spells them.
            KeyValueHeads = keyValueHeads == headCount ? null : keyValueHeads,
            HeadDimension = headCount > 0 && embeddingSize % headCount == 0 && headDimension == embeddingSize / headCount ? null : headDimension,
            MlpSize = Int("intermediate_size") ?? defaults.MlpSize,
            RmsNormEpsilon = Double("rms_norm_eps") ?? defaults.RmsNormEpsilon,
            RopeTheta = theta,
            RopeScaling = scaling,
            AttentionBias = modelType != "qwen2" && (Bool("attention_bias") ?? false),
            AttentionDropout = Double("attention_dropout") ?? defaults.AttentionDropout,
            ActivationFunction = Value<string>(root, "hidden_act", "a string") ?? defaults.ActivationFunction,
            InitializerRange = Double("initializer_range") ?? defaults.InitializerRange,
            ExtraFieldsJson = extras.Count == 0 ? null : extras.ToJsonString(),
        };
        config.Validate();
        return config;
    }

    private static T? Value<T>(JsonObject root, string key, string kind)
    {
        JsonNode? node = root[key];
        if (node is null)
            return default;
        return node is JsonValue value && value.TryGetValue(out T? result) ? result
            : throw new InvalidDataException($"config.json field '{key}' must be {kind}, but is {node.ToJsonString()}.");
    }

    // rope_theta and rope_scaling (the published configs), or rope_parameters (what transformers 5 writes).
    private static (double Theta, Llama3RopeScaling? Scaling) ReadRope(JsonObject root, double defaultTheta)
    {
        double? theta = root["rope_theta"] is null ? null : Value<double>(root, "rope_theta", "a number");
        JsonNode? scaling = root["rope_scaling"];
        string scalingField = "rope_scaling";
        if (root["rope_parameters"] is JsonNode parameters)
        {
            if (parameters is not JsonObject parameterObject)
                throw new InvalidDataException($"config.json field 'rope_parameters' must be an object, but is {parameters.ToJsonString()}.");
            double? nestedTheta = parameterObject["rope_theta"] is null ? null : Value<double>(parameterObject, "rope_theta", "a number");
            if (theta is double outer && nestedTheta is double inner && outer != inner)
                throw new InvalidDataException($"config.json sets 'rope_theta' to {outer} but 'rope_parameters.rope_theta' to {inner}; keep one of them.");
            theta ??= nestedTheta;
            if (scaling is not null && !JsonNode.DeepEquals(scaling, parameters))
                throw new InvalidDataException("config.json has both 'rope_scaling' and 'rope_parameters'; keep one of them.");
            scaling = parameters;
            scalingField = "rope_parameters";
        }
        return (theta ?? defaultTheta, Llama3RopeScaling.FromJson(scaling, scalingField));
    }

    /// <summary>Reads <c>config.json</c> from a file; see <see cref="FromJson"/>.</summary>
    public static new LlamaConfig Load(string path) => FromJson(File.ReadAllText(path));

    /// <summary>
    /// Writes a Hugging Face <c>config.json</c> (keys sorted, as Hugging Face writes them): the properties under their
    /// Hugging Face names (the rotary settings as <c>rope_theta</c> and <c>rope_scaling</c>, which every version of
    /// transformers reads), and <see cref="ExtraFieldsJson"/>'s fields as they were read.
    /// </summary>
    public override string ToJson()
    {
        JsonObject root = ExtraFields() ?? [];
        root["model_type"] = ModelType;
        if (!root.ContainsKey("architectures"))
            root["architectures"] = DefaultArchitectures(ModelType);
        root["vocab_size"] = VocabSize;
        root["max_position_embeddings"] = ContextLength;
        root["hidden_size"] = EmbeddingSize;
        root["num_attention_heads"] = HeadCount;
        root["num_hidden_layers"] = LayerCount;
        // Both always: Hugging Face's defaults for a missing field are not hidden / heads everywhere (Qwen3's head_dim is
        // 128, Qwen2's num_key_value_heads 32).
        root["num_key_value_heads"] = KeyValueHeadCount;
        root["head_dim"] = HeadSize;
        root["intermediate_size"] = MlpSize;
        root["rms_norm_eps"] = RmsNormEpsilon;
        root["rope_theta"] = RopeTheta;
        root["rope_scaling"] = RopeScaling?.ToJson();
        if (ModelType != "qwen2")
            root["attention_bias"] = AttentionBias;
        root["attention_dropout"] = AttentionDropout;
        root["hidden_act"] = ActivationFunction;
        root["initializer_range"] = InitializerRange;
        root["tie_word_embeddings"] = TieWordEmbeddings;
        var fields = root.OrderBy(field => field.Key, StringComparer.Ordinal).ToList();
        root.Clear();
        foreach ((string key, JsonNode? value) in fields)
            root[key] = value;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}

/// <summary>
/// Llama 3.1's rotary scaling (Hugging Face <c>rope_scaling</c> with <c>rope_type</c> <c>llama3</c>): wavelengths
/// longer than <see cref="OriginalContextLength"/> / <see cref="LowFrequencyFactor"/> are stretched by
/// <see cref="Factor"/>, those shorter than <see cref="OriginalContextLength"/> / <see cref="HighFrequencyFactor"/> are
/// kept, and those between are interpolated smoothly.
/// </summary>
public sealed record Llama3RopeScaling
{
    /// <summary>How much the low frequencies are slowed (<c>factor</c>; 32 for Llama 3.2, 8 for Llama 3.1).</summary>
    public double Factor { get; init; } = 8;

    /// <summary><c>low_freq_factor</c> (1 for Llama 3.x).</summary>
    public double LowFrequencyFactor { get; init; } = 1;

    /// <summary><c>high_freq_factor</c> (4 for Llama 3.x).</summary>
    public double HighFrequencyFactor { get; init; } = 4;

    /// <summary>The context the model was first trained on (<c>original_max_position_embeddings</c>, 8192 for Llama 3.x).</summary>
    public int OriginalContextLength { get; init; } = 8192;

    /// <summary>Llama 3.2's published scaling: factor 32, frequency factors 1 and 4, original context 8192.</summary>
    public static Llama3RopeScaling Llama32 { get; } = new() { Factor = 32 };

    internal void Validate()
    {
        if (!(Factor > 0) || !(LowFrequencyFactor > 0) || !(HighFrequencyFactor > LowFrequencyFactor) || OriginalContextLength <= 0)
            throw new ArgumentException(
                $"Llama3RopeScaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0, but has " +
                $"factor {Factor}, low_freq_factor {LowFrequencyFactor}, high_freq_factor {HighFrequencyFactor}, original_max_position_embeddings {OriginalContextLength}.");
    }

    internal JsonObject ToJson() => new()
    {
        ["factor"] = Factor,
        ["high_freq_factor"] = HighFrequencyFactor,
        ["low_freq_factor"] = LowFrequencyFactor,
        ["original_max_position_embeddings"] = OriginalContextLength,
        ["rope_type"] = "llama3",
    };

    /// <summary>Reads <c>rope_scaling</c> (or <c>rope_parameters</c>): null or type <c>default</c> for none, <c>llama3</c>; refuses the others by name.</summary>
    internal static Llama3RopeScaling? FromJson(JsonNode? node, string field)
    {
        if (node is null)
            return null;
        if (node is not JsonObject scaling)
            throw new InvalidDataException($"config.json field '{field}' must be an object or null, but is {node.ToJsonString()}.");
        string? type = (scaling["rope_type"] ?? scaling["type"]) is JsonValue typeValue && typeValue.TryGetValue(out string? name) ? name : null;
        foreach ((string key, JsonNode? value) in scaling)
        {
            if (key is not ("rope_type" or "type" or "rope_theta" or "factor" or "low_freq_factor" or "high_freq_factor" or "original_max_position_embeddings"))
            {
                if (key == "partial_rotary_factor" && value is JsonValue v && v.TryGetValue(out double partial) && partial == 1)
                    continue;
                throw new NotSupportedException(
                    $"config.json field '{field}' sets '{key}' to {value?.ToJsonString() ?? "null"}, which LlamaModel does not compute; it computes plain rotary embeddings and Llama 3's scaling ('rope_type': 'llama3').");
            }
        }
        switch (type)
        {
            case null or "default" when scaling["factor"] is null:
                return null;
            case "llama3":
                double Number(string key) => scaling[key] is JsonValue value && value.TryGetValue(out double number) ? number
                    : throw new InvalidDataException($"config.json field '{field}' of type 'llama3' needs a number '{key}', but has {scaling[key]?.ToJsonString() ?? "none"}.");
                var result = new Llama3RopeScaling
                {
                    Factor = Number("factor"),
                    LowFrequencyFactor = Number("low_freq_factor"),
                    HighFrequencyFactor = Number("high_freq_factor"),
                    OriginalContextLength = checked((int)Number("original_max_position_embeddings")),
                };
                result.Validate();
                return result;
            default:
                throw new NotSupportedException(
                    $"config.json field '{field}' has 'rope_type' {(type is null ? "null" : $"'{type}'")} (with {scaling.ToJsonString()}), a rotary scaling LlamaModel does not compute; " +
                    "it computes plain rotary embeddings and Llama 3's scaling ('llama3'). Remove the scaling to run within the original context, or use a library that computes it.");
        }
    }
}
