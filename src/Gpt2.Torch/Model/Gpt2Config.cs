using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gpt2.Torch.Model;

/// <summary>
/// The shape of a GPT-2 model. Presets give the four published sizes and the book's
/// <c>GPT_CONFIG_124M</c>; any other size is a matter of setting the properties.
/// Reads and writes Hugging Face <c>config.json</c> files.
/// </summary>
public sealed record Gpt2Config
{
    /// <summary>Number of token ids (50257 for GPT-2's tokenizer).</summary>
    public int VocabSize { get; init; } = 50257;

    /// <summary>Longest sequence the model attends over (Hugging Face <c>n_positions</c>).</summary>
    public int ContextLength { get; init; } = 1024;

    /// <summary>Width of the residual stream (<c>n_embd</c>).</summary>
    public int EmbeddingSize { get; init; } = 768;

    /// <summary>Attention heads per block (<c>n_head</c>); must divide <see cref="EmbeddingSize"/>.</summary>
    public int HeadCount { get; init; } = 12;

    /// <summary>Transformer blocks (<c>n_layer</c>).</summary>
    public int LayerCount { get; init; } = 12;

    /// <summary>Width of the MLP's hidden layer (<c>n_inner</c>); GPT-2 uses 4 x <see cref="EmbeddingSize"/>.</summary>
    public int? MlpSize { get; init; }

    /// <summary>Dropout rate on embeddings, attention weights and residual branches during training.</summary>
    public double Dropout { get; init; } = 0.1;

    /// <summary>Whether the fused query/key/value projection has a bias (GPT-2: yes; the book's config: no).</summary>
    public bool QkvBias { get; init; } = true;

    /// <summary>Epsilon of every LayerNorm.</summary>
    public double LayerNormEpsilon { get; init; } = 1e-5;

    /// <summary>Whether the output head shares its weight with the token embedding (GPT-2: yes).</summary>
    public bool TieWordEmbeddings { get; init; } = true;

    /// <summary>The MLP width actually used.</summary>
    public int ResolvedMlpSize => MlpSize ?? 4 * EmbeddingSize;

    /// <summary>Width of one attention head.</summary>
    public int HeadSize => EmbeddingSize / HeadCount;

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
    public static IReadOnlyList<string> PresetNames { get; } = ["124M", "355M", "774M", "1558M", "book-124M", "mini"];

    /// <summary>
    /// A published size by name: <c>124M</c>, <c>355M</c>, <c>774M</c>, <c>1558M</c> (or the Hugging Face ids
    /// <c>gpt2</c>, <c>gpt2-medium</c>, <c>gpt2-large</c>, <c>gpt2-xl</c>), <c>book-124M</c> or <c>mini</c>.
    /// </summary>
    public static Gpt2Config FromPreset(string name) => name.ToLowerInvariant() switch
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

    /// <summary>Throws when the sizes cannot form a model.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0)
                throw new ArgumentException($"Gpt2Config.{name} must be positive, but is {value}.");
        }
        Positive(VocabSize, nameof(VocabSize));
        Positive(ContextLength, nameof(ContextLength));
        Positive(EmbeddingSize, nameof(EmbeddingSize));
        Positive(HeadCount, nameof(HeadCount));
        Positive(LayerCount, nameof(LayerCount));
        Positive(ResolvedMlpSize, nameof(MlpSize));
        if (EmbeddingSize % HeadCount != 0)
            throw new ArgumentException($"Gpt2Config.EmbeddingSize ({EmbeddingSize}) must be a multiple of HeadCount ({HeadCount}).");
        if (Dropout is < 0 or >= 1)
            throw new ArgumentException($"Gpt2Config.Dropout must be in [0, 1), but is {Dropout}.");
        if (LayerNormEpsilon <= 0)
            throw new ArgumentException($"Gpt2Config.LayerNormEpsilon must be positive, but is {LayerNormEpsilon}.");
    }

    /// <summary>Reads a Hugging Face GPT-2 <c>config.json</c>.</summary>
    public static Gpt2Config FromJson(string json)
    {
        JsonObject root = JsonNode.Parse(json) as JsonObject
            ?? throw new InvalidDataException("config.json must hold a JSON object.");
        string? modelType = root["model_type"]?.GetValue<string>();
        if (modelType is not null && modelType != "gpt2")
            throw new InvalidDataException($"config.json describes a '{modelType}' model, not 'gpt2'.");

        int Int(string key, int fallback) => root[key] is JsonNode node ? node.GetValue<int>() : fallback;
        double Double(string key, double fallback) => root[key] is JsonNode node ? node.GetValue<double>() : fallback;
        bool Bool(string key, bool fallback) => root[key] is JsonNode node ? node.GetValue<bool>() : fallback;

        var defaults = new Gpt2Config();
        var config = new Gpt2Config
        {
            VocabSize = Int("vocab_size", defaults.VocabSize),
            ContextLength = Int("n_positions", Int("n_ctx", defaults.ContextLength)),
            EmbeddingSize = Int("n_embd", defaults.EmbeddingSize),
            HeadCount = Int("n_head", defaults.HeadCount),
            LayerCount = Int("n_layer", defaults.LayerCount),
            MlpSize = root["n_inner"] is JsonNode inner ? inner.GetValue<int>() : null,
            Dropout = Double("resid_pdrop", defaults.Dropout),
            LayerNormEpsilon = Double("layer_norm_epsilon", defaults.LayerNormEpsilon),
            TieWordEmbeddings = Bool("tie_word_embeddings", defaults.TieWordEmbeddings),
            QkvBias = Bool("qkv_bias", defaults.QkvBias),
        };
        config.Validate();
        return config;
    }

    /// <summary>Reads <c>config.json</c> from a file.</summary>
    public static Gpt2Config Load(string path) => FromJson(File.ReadAllText(path));

    /// <summary>Writes a Hugging Face <c>config.json</c>; <c>qkv_bias</c> is our extension, written only when false.</summary>
    public string ToJson()
    {
        var root = new JsonObject
        {
            ["model_type"] = "gpt2",
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["activation_function"] = "gelu_new",
            ["vocab_size"] = VocabSize,
            ["n_positions"] = ContextLength,
            ["n_ctx"] = ContextLength,
            ["n_embd"] = EmbeddingSize,
            ["n_head"] = HeadCount,
            ["n_layer"] = LayerCount,
            ["n_inner"] = MlpSize,
            ["resid_pdrop"] = Dropout,
            ["embd_pdrop"] = Dropout,
            ["attn_pdrop"] = Dropout,
            ["layer_norm_epsilon"] = LayerNormEpsilon,
            ["tie_word_embeddings"] = TieWordEmbeddings,
        };
        if (!QkvBias)
            root["qkv_bias"] = false;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
