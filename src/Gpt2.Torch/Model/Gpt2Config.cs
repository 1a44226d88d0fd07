using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gpt2.Torch.Model;

/// <summary>
/// The shape of a GPT-2 model. Presets give the four published sizes and the book's
/// <c>GPT_CONFIG_124M</c>; any other size is a matter of setting the properties.
/// Reads and writes Hugging Face <c>config.json</c> files.
/// </summary>
public sealed record Gpt2Config : LanguageModelConfig
{
    /// <summary>Always <c>gpt2</c>; <see cref="Validate"/> refuses any other value.</summary>
    public override string ModelType { get; init; } = "gpt2";

    /// <summary>Number of token ids (50257 for GPT-2's tokenizer).</summary>
    public override int VocabSize { get; init; } = 50257;

    /// <summary>Longest sequence the model attends over (Hugging Face <c>n_positions</c>).</summary>
    public override int ContextLength { get; init; } = 1024;

    /// <summary>Width of the residual stream (<c>n_embd</c>).</summary>
    public override int EmbeddingSize { get; init; } = 768;

    /// <summary>Attention heads per block (<c>n_head</c>); must divide <see cref="EmbeddingSize"/>.</summary>
    public override int HeadCount { get; init; } = 12;

    /// <summary>Transformer blocks (<c>n_layer</c>).</summary>
    public override int LayerCount { get; init; } = 12;

    /// <summary>Width of the MLP's hidden layer (<c>n_inner</c>); GPT-2 uses 4 x <see cref="EmbeddingSize"/>.</summary>
    public int? MlpSize { get; init; }

    /// <summary>
    /// Dropout rate during training on the residual branches (Hugging Face <c>resid_pdrop</c>: after each attention and MLP
    /// output projection), and on the embeddings and attention weights unless <see cref="EmbeddingDropout"/> or
    /// <see cref="AttentionDropout"/> says otherwise.
    /// </summary>
    public double Dropout { get; init; } = 0.1;

    /// <summary>Dropout rate on the sum of token and position embeddings (<c>embd_pdrop</c>); <see cref="Dropout"/> when null.</summary>
    public double? EmbeddingDropout { get; init; }

    /// <summary>Dropout rate on the attention weights after the softmax (<c>attn_pdrop</c>); <see cref="Dropout"/> when null.</summary>
    public double? AttentionDropout { get; init; }

    /// <summary>Whether the fused query/key/value projection has a bias (GPT-2: yes; the book's config: no).</summary>
    public bool QkvBias { get; init; } = true;

    /// <summary>Epsilon of every LayerNorm (<c>layer_norm_epsilon</c>).</summary>
    public double LayerNormEpsilon { get; init; } = 1e-5;

    /// <summary>Whether the output head shares its weight with the token embedding (GPT-2: yes).</summary>
    public override bool TieWordEmbeddings { get; init; } = true;

    /// <summary>
    /// The MLP's activation by its Hugging Face name (<c>activation_function</c>): <c>gelu_new</c> (GPT-2's tanh-approximated
    /// GELU, the default), <c>gelu_pytorch_tanh</c> (the same function), <c>gelu</c> (exact, with erf), <c>gelu_fast</c>,
    /// <c>quick_gelu</c>, <c>relu</c>, <c>silu</c> (or <c>swish</c>) or <c>tanh</c>; see <see cref="ActivationFunctions"/>.
    /// </summary>
    public string ActivationFunction { get; init; } = "gelu_new";

    /// <summary>Whether attention scores are divided by the square root of the head size (<c>scale_attn_weights</c>; GPT-2: yes).</summary>
    public bool ScaleAttentionWeights { get; init; } = true;

    /// <summary>Whether the attention scores of block <c>i</c> (from 0) are also divided by <c>i + 1</c> (<c>scale_attn_by_inverse_layer_idx</c>).</summary>
    public bool ScaleAttentionByInverseLayerIndex { get; init; }

    /// <summary>
    /// Whether attention scores and their softmax are computed in float32 whatever the model's precision
    /// (<c>reorder_and_upcast_attn</c>); no change for a float32 model.
    /// </summary>
    public bool ReorderAndUpcastAttention { get; init; }

    /// <summary>
    /// The fields of a Hugging Face <c>config.json</c> that this record does not model and that do not change the
    /// computation (token ids, <c>architectures</c>, <c>initializer_range</c>, <c>summary_*</c>, <c>task_specific_params</c>,
    /// ...), as one compact JSON object with sorted keys, or null for none. <see cref="FromJson"/> fills it and
    /// <see cref="ToJson"/> writes it back, so that loading and saving a checkpoint keeps them.
    /// </summary>
    public override string? ExtraFieldsJson { get; init; }

    /// <summary>The MLP width actually used.</summary>
    public int ResolvedMlpSize => MlpSize ?? 4 * EmbeddingSize;

    /// <summary>The embedding dropout rate actually used.</summary>
    public double ResolvedEmbeddingDropout => EmbeddingDropout ?? Dropout;

    /// <summary>The attention dropout rate actually used.</summary>
    public double ResolvedAttentionDropout => AttentionDropout ?? Dropout;

    /// <summary>Width of one attention head.</summary>
    public override int HeadSize => EmbeddingSize / HeadCount;

    /// <summary>GPT-2 has multi-head attention: as many key/value heads as query heads.</summary>
    public override int KeyValueHeadCount => HeadCount;

    internal override LanguageModelConfig WithoutDropout() => this with { Dropout = 0, EmbeddingDropout = null, AttentionDropout = null };

    internal override CausalLanguageModel LoadCheckpoint(string folder, TorchSharp.torch.Device? device) => Checkpoints.Gpt2Checkpoint.Load(folder, device);

    internal override Onnx.OnnxFamilyExport OnnxExport => Onnx.Gpt2OnnxGraph.Family;

    /// <summary>GPT-2's tokenizer (<see cref="Tokenization.Gpt2Tokenizer.Default"/>).</summary>
    public override Tokenization.LanguageModelTokenizer BuiltInTokenizer => Tokenization.Gpt2Tokenizer.Default;

    /// <inheritdoc />
    public override Gpt2Model CreateModel(TorchSharp.torch.Device? device = null) => new(this, device);

    /// <summary>
    /// The factor block <paramref name="layer"/> (from 0) multiplies its attention scores q k^T by before the softmax:
    /// 1 / sqrt(<see cref="HeadSize"/>) when <see cref="ScaleAttentionWeights"/>, times 1 / (layer + 1) when
    /// <see cref="ScaleAttentionByInverseLayerIndex"/>, as Hugging Face's GPT2Attention does.
    /// </summary>
    internal double AttentionScale(int layer) =>
        (ScaleAttentionWeights ? 1 / Math.Sqrt(HeadSize) : 1.0) / (ScaleAttentionByInverseLayerIndex ? layer + 1 : 1);

    /// <summary>The names <see cref="ActivationFunction"/> accepts (Hugging Face's <c>ACT2FN</c> names).</summary>
    public static IReadOnlyList<string> ActivationFunctions { get; } = [.. Gpt2Mlp.Activations.Keys];

    /// <summary>GPT-2 small, 124M parameters (Hugging Face <c>openai-community/gpt2</c>).</summary>
    public static Gpt2Config Gpt2Small { get; } = new();

    /// <summary>GPT-2 medium, 355M parameters.</summary>
    public static Gpt2Config Gpt2Medium { get; } = new() { EmbeddingSize = 1024, LayerCount = 24, HeadCount = 16 };

    /// <summary>GPT-2 large, 774M parameters.</summary>
    public static Gpt2Config Gpt2Large { get; } = new() { EmbeddingSize = 1280, LayerCount = 36, HeadCount = 20 };

    /// <summary>GPT-2 XL, 1558M parameters.</summary>
    public static Gpt2Config Gpt2XL { get; } = new() { EmbeddingSize = 1600, LayerCount = 48, HeadCount = 25 };

    /// <summary>
    /// The book's <c>GPT_CONFIG_124M</c> (chapter 4): GPT-2 small without QKV bias and with an untied head,
    /// 163,009,536 parameters. Chapter 5 pretrains it with <c>ContextLength = 256</c>.
    /// </summary>
    public static Gpt2Config Book124M { get; } = new() { QkvBias = false, TieWordEmbeddings = false };

    /// <summary>
    /// A small GPT-2 (4 layers, width 256, 4 heads, GPT-2's vocabulary and context) that trains in minutes on a CPU;
    /// there are no published weights for it.
    /// </summary>
    public static Gpt2Config Mini { get; } = new() { EmbeddingSize = 256, LayerCount = 4, HeadCount = 4 };

    /// <summary>The preset names <see cref="FromPreset"/> accepts.</summary>
    public static new IReadOnlyList<string> PresetNames { get; } = ["124M", "355M", "774M", "1558M", "book-124M", "mini"];

    /// <summary>
    /// A published size by name: <c>124M</c>, <c>355M</c>, <c>774M</c>, <c>1558M</c> (or the Hugging Face ids
    /// <c>gpt2</c>, <c>gpt2-medium</c>, <c>gpt2-large</c>, <c>gpt2-xl</c>), <c>book-124M</c> or <c>mini</c>.
    /// </summary>
    public static new Gpt2Config FromPreset(string name) => name.ToLowerInvariant() switch
    {
        "124m" or "gpt2" or "small" => Gpt2Small,
        "355m" or "gpt2-medium" or "medium" => Gpt2Medium,
        "774m" or "gpt2-large" or "large" => Gpt2Large,
        "1558m" or "gpt2-xl" or "xl" => Gpt2XL,
        "book-124m" => Book124M,
        "mini" => Mini,
        _ => throw new ArgumentException(
            $"Unknown GPT-2 preset '{name}'. Use one of {string.Join(", ", PresetNames)}, or build a Gpt2Config with the sizes you want.",
            nameof(name)),
    };

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when the settings cannot form a model, and <see cref="NotSupportedException"/>
    /// when they ask for a computation <see cref="Gpt2Model"/> does not do (an unknown activation, cross-attention, pruned
    /// heads, quantized weights, ...), naming the field.
    /// </summary>
    public override void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0)
                throw new ArgumentException($"Gpt2Config.{name} must be positive, but is {value}.");
        }
        static void Rate(double value, string name)
        {
            if (value is < 0 or >= 1 || double.IsNaN(value))
                throw new ArgumentException($"Gpt2Config.{name} must be in [0, 1), but is {value}.");
        }
        if (ModelType != "gpt2")
            throw new ArgumentException($"Gpt2Config.ModelType must be 'gpt2', but is '{ModelType}'; use the config record of that family (LanguageModelConfig.FromJson picks it).");
        Positive(VocabSize, nameof(VocabSize));
        Positive(ContextLength, nameof(ContextLength));
        Positive(EmbeddingSize, nameof(EmbeddingSize));
        Positive(HeadCount, nameof(HeadCount));
        Positive(LayerCount, nameof(LayerCount));
        Positive(ResolvedMlpSize, nameof(MlpSize));
        if (EmbeddingSize % HeadCount != 0)
            throw new ArgumentException($"Gpt2Config.EmbeddingSize ({EmbeddingSize}) must be a multiple of HeadCount ({HeadCount}).");
        Rate(Dropout, nameof(Dropout));
        Rate(ResolvedEmbeddingDropout, nameof(EmbeddingDropout));
        Rate(ResolvedAttentionDropout, nameof(AttentionDropout));
        if (LayerNormEpsilon <= 0)
            throw new ArgumentException($"Gpt2Config.LayerNormEpsilon must be positive, but is {LayerNormEpsilon}.");
        if (!Gpt2Mlp.Activations.ContainsKey(ActivationFunction ?? ""))
            throw new NotSupportedException(
                $"Gpt2Config.ActivationFunction (config.json 'activation_function') is '{ActivationFunction}', which Gpt2Model does not compute; " +
                $"use one of {string.Join(", ", ActivationFunctions)}.");
        foreach ((string field, JsonNode? value) in ExtraFields() ?? [])
        {
            if (ModeledFields.Contains(field))
                throw new ArgumentException($"Gpt2Config.ExtraFieldsJson holds '{field}', which Gpt2Config models; set its property instead.");
            if (UncomputedReason(field, value) is string reason)
                throw new NotSupportedException($"config.json field '{field}' is {value!.ToJsonString()}: {reason}");
        }
    }

    private static readonly JsonArray DefaultArchitectures = ["GPT2LMHeadModel"];

    // The config.json fields read into properties (aliases from Hugging Face's attribute_map included).
    private static readonly HashSet<string> ModeledFields =
    [
        "model_type", "activation_function", "vocab_size", "n_positions", "max_position_embeddings", "n_ctx", "n_embd", "hidden_size",
        "n_head", "num_attention_heads", "n_layer", "num_hidden_layers", "n_inner", "resid_pdrop", "embd_pdrop", "attn_pdrop",
        "layer_norm_epsilon", "tie_word_embeddings", "qkv_bias", "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn",
    ];

    // Why a field that Hugging Face's GPT-2 honours, with this value, asks for something Gpt2Model does not compute; null when it does not.
    private static string? UncomputedReason(string field, JsonNode? value) => field switch
    {
        "add_cross_attention" when value is JsonValue v && v.TryGetValue(out bool on) && on =>
            "its blocks attend to an encoder's states through cross-attention layers, which Gpt2Model does not have. Use a decoder-only GPT-2 checkpoint.",
        "is_encoder_decoder" when value is JsonValue v && v.TryGetValue(out bool on) && on =>
            "it describes an encoder-decoder model; Gpt2Model is decoder-only. Use a decoder-only GPT-2 checkpoint.",
        "pruned_heads" when value is JsonObject heads && heads.Count > 0 =>
            "some attention heads were pruned away, which Gpt2Model does not support. Use the checkpoint from before pruning.",
        "quantization_config" when value is not null =>
            "its weights are quantized, and Gpt2Model computes with floating-point weights. Use an unquantized checkpoint.",
        _ => null,
    };

    private JsonObject? ExtraFields() => ExtraFieldsJson is null ? null
        : JsonNode.Parse(ExtraFieldsJson) as JsonObject ?? throw new ArgumentException("Gpt2Config.ExtraFieldsJson must hold a JSON object.");

    /// <summary>
    /// Reads a Hugging Face GPT-2 <c>config.json</c>: every field of Hugging Face's <c>GPT2Config</c> that changes the
    /// computation becomes a property; the others are kept in <see cref="ExtraFieldsJson"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The text is not a JSON object, or a field has the wrong type.</exception>
    /// <exception cref="NotSupportedException">
    /// The config asks for something <see cref="Gpt2Model"/> does not compute: another <c>model_type</c>, an activation it
    /// does not have, cross-attention, pruned heads, quantized weights.
    /// </exception>
    /// <exception cref="ArgumentException">The sizes cannot form a model.</exception>
    public static new Gpt2Config FromJson(string json)
    {
        JsonObject root = JsonNode.Parse(json) as JsonObject
            ?? throw new InvalidDataException("config.json must hold a JSON object.");

        T? Value<T>(string key, string kind)
        {
            JsonNode? node = root[key];
            if (node is null)
                return default;
            return node is JsonValue value && value.TryGetValue(out T? result) ? result
                : throw new InvalidDataException($"config.json field '{key}' must be {kind}, but is {node.ToJsonString()}.");
        }
        int? Int(string key) => root[key] is null ? null : Value<int>(key, "an integer");
        double? Double(string key) => root[key] is null ? null : Value<double>(key, "a number");
        bool? Bool(string key) => root[key] is null ? null : Value<bool>(key, "true or false");
        // Hugging Face's attribute_map lets hidden_size stand for n_embd, and so on.
        int? Aliased(string key, string alias) => (Int(key), Int(alias)) switch
        {
            (int value, int other) when value != other =>
                throw new InvalidDataException($"config.json sets '{key}' to {value} but its alias '{alias}' to {other}; keep one of them."),
            (int value, _) => value,
            (_, var other) => other,
        };

        string? modelType = Value<string>("model_type", "a string");
        if (modelType is not null && modelType != "gpt2")
            throw new NotSupportedException($"config.json field 'model_type' is '{modelType}': it describes another architecture than GPT-2 ('gpt2'). Load it with a library for {modelType} models.");

        var defaults = new Gpt2Config();
        double residualDropout = Double("resid_pdrop") ?? defaults.Dropout;
        double? embeddingDropout = Double("embd_pdrop"), attentionDropout = Double("attn_pdrop");
        var extras = new JsonObject();
        foreach ((string key, JsonNode? value) in root.Where(field => !ModeledFields.Contains(field.Key)).OrderBy(field => field.Key, StringComparer.Ordinal))
            extras[key] = value?.DeepClone();
        // ToJson writes GPT-2's architectures when none are kept, so that value needs no keeping.
        if (extras["architectures"] is JsonNode architectures && JsonNode.DeepEquals(architectures, DefaultArchitectures))
            extras.Remove("architectures");
        var config = new Gpt2Config
        {
            VocabSize = Int("vocab_size") ?? defaults.VocabSize,
            ContextLength = Aliased("n_positions", "max_position_embeddings") ?? Int("n_ctx") ?? defaults.ContextLength,
            EmbeddingSize = Aliased("n_embd", "hidden_size") ?? defaults.EmbeddingSize,
            HeadCount = Aliased("n_head", "num_attention_heads") ?? defaults.HeadCount,
            LayerCount = Aliased("n_layer", "num_hidden_layers") ?? defaults.LayerCount,
            MlpSize = Int("n_inner"),
            Dropout = residualDropout,
            // Equal rates stay null, so that Dropout alone keeps setting all three.
            EmbeddingDropout = embeddingDropout == residualDropout ? null : embeddingDropout,
            AttentionDropout = attentionDropout == residualDropout ? null : attentionDropout,
            LayerNormEpsilon = Double("layer_norm_epsilon") ?? defaults.LayerNormEpsilon,
            TieWordEmbeddings = Bool("tie_word_embeddings") ?? defaults.TieWordEmbeddings,
            QkvBias = Bool("qkv_bias") ?? defaults.QkvBias,
            ActivationFunction = Value<string>("activation_function", "a string") ?? defaults.ActivationFunction,
            ScaleAttentionWeights = Bool("scale_attn_weights") ?? defaults.ScaleAttentionWeights,
            ScaleAttentionByInverseLayerIndex = Bool("scale_attn_by_inverse_layer_idx") ?? defaults.ScaleAttentionByInverseLayerIndex,
            ReorderAndUpcastAttention = Bool("reorder_and_upcast_attn") ?? defaults.ReorderAndUpcastAttention,
            ExtraFieldsJson = extras.Count == 0 ? null : extras.ToJsonString(),
        };
        config.Validate();
        return config;
    }

    /// <summary>Reads <c>config.json</c> from a file; see <see cref="FromJson"/>.</summary>
    public static new Gpt2Config Load(string path) => FromJson(File.ReadAllText(path));

    /// <summary>
    /// Writes a Hugging Face <c>config.json</c> (keys sorted, as Hugging Face writes them): the properties under their
    /// Hugging Face names, and <see cref="ExtraFieldsJson"/>'s fields as they were read. <c>qkv_bias</c> is our extension,
    /// written only when false.
    /// </summary>
    public override string ToJson()
    {
        JsonObject root = ExtraFields() ?? [];
        root["model_type"] = "gpt2";
        if (!root.ContainsKey("architectures"))
            root["architectures"] = DefaultArchitectures.DeepClone();
        root["activation_function"] = ActivationFunction;
        root["vocab_size"] = VocabSize;
        root["n_positions"] = ContextLength;
        root["n_ctx"] = ContextLength;
        root["n_embd"] = EmbeddingSize;
        root["n_head"] = HeadCount;
        root["n_layer"] = LayerCount;
        root["n_inner"] = MlpSize;
        root["resid_pdrop"] = Dropout;
        root["embd_pdrop"] = ResolvedEmbeddingDropout;
        root["attn_pdrop"] = ResolvedAttentionDropout;
        root["layer_norm_epsilon"] = LayerNormEpsilon;
        root["tie_word_embeddings"] = TieWordEmbeddings;
        root["scale_attn_weights"] = ScaleAttentionWeights;
        root["scale_attn_by_inverse_layer_idx"] = ScaleAttentionByInverseLayerIndex;
        root["reorder_and_upcast_attn"] = ReorderAndUpcastAttention;
        if (!QkvBias)
            root["qkv_bias"] = false;
        var fields = root.OrderBy(field => field.Key, StringComparer.Ordinal).ToList();
        root.Clear();
        foreach ((string key, JsonNode? value) in fields)
            root[key] = value;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
