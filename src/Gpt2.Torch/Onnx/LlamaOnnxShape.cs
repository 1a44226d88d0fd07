using System.Text.Json.Nodes;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// Everything <see cref="LlamaOnnxGraph"/> needs to know of a Llama-family model (Llama 3.x, SmolLM2, Qwen2, Qwen3), read
/// from Hugging Face's <c>config.json</c> fields; the graph asks nothing else of the model's config.
/// </summary>
/// <param name="ModelType"><c>llama</c>, <c>qwen2</c> or <c>qwen3</c>.</param>
/// <param name="VocabSize"><c>vocab_size</c>.</param>
/// <param name="ContextLength"><c>max_position_embeddings</c>: the rotary tables cover positions 0 to this minus 1.</param>
/// <param name="HiddenSize"><c>hidden_size</c>.</param>
/// <param name="Layers"><c>num_hidden_layers</c>.</param>
/// <param name="Heads"><c>num_attention_heads</c> (query heads).</param>
/// <param name="KeyValueHeads"><c>num_key_value_heads</c>: a divisor of <paramref name="Heads"/>.</param>
/// <param name="HeadDim"><c>head_dim</c>, or hidden size / heads when absent.</param>
/// <param name="IntermediateSize"><c>intermediate_size</c> of the SwiGLU MLP.</param>
/// <param name="RmsNormEps"><c>rms_norm_eps</c>.</param>
/// <param name="RopeTheta"><c>rope_theta</c>.</param>
/// <param name="RopeScaling"><c>rope_scaling</c> of <c>rope_type</c> <c>llama3</c>, or null for unscaled RoPE.</param>
/// <param name="QkvBias">Whether q_proj, k_proj and v_proj have biases (always for qwen2, <c>attention_bias</c> otherwise).</param>
/// <param name="OutputBias">Whether o_proj has a bias (<c>attention_bias</c> for llama and qwen3; never for qwen2).</param>
/// <param name="QueryKeyNorm">Whether each head's query and key go through an RMSNorm before RoPE (qwen3's q_norm, k_norm).</param>
/// <param name="TiedHead">Whether the output head is the token embedding (<c>tie_word_embeddings</c>; no <c>lm_head.weight</c>).</param>
/// <param name="MlpBias">Whether gate_proj, up_proj and down_proj have biases (llama's <c>mlp_bias</c>).</param>
internal sealed record LlamaOnnxShape(string ModelType, int VocabSize, int ContextLength, int HiddenSize, int Layers, int Heads, int KeyValueHeads,
    int HeadDim, int IntermediateSize, double RmsNormEps, double RopeTheta, LlamaRopeScaling? RopeScaling, bool QkvBias, bool OutputBias,
    bool QueryKeyNorm, bool TiedHead, bool MlpBias = false)
{
    /// <summary>
    /// The shape a Hugging Face <c>config.json</c> describes; throws <see cref="NotSupportedException"/> naming the field when
    /// it asks for a computation the graph does not write (another activation, sliding windows, another RoPE scaling).
    /// </summary>
    public static LlamaOnnxShape FromConfigJson(string json)
    {
        JsonObject config = JsonNode.Parse(json)?.AsObject() ?? throw new ArgumentException("config.json is not a JSON object.", nameof(json));
        string modelType = config["model_type"]?.GetValue<string>() ?? throw new ArgumentException("config.json has no model_type.", nameof(json));
        if (modelType is not ("llama" or "qwen2" or "qwen3"))
            throw new NotSupportedException($"config.json's model_type '{modelType}' is not one of the Llama family's (llama, qwen2, qwen3).");
        int Int(string name) => config[name]?.GetValue<int>() ?? throw new ArgumentException($"config.json has no {name}.", nameof(json));
        double Double(string name, double fallback) => config[name] is JsonNode node ? node.GetValue<double>() : fallback;
        bool Bool(string name) => config[name] is JsonNode node && node.GetValue<bool>();

        string activation = config["hidden_act"]?.GetValue<string>() ?? "silu";
        if (activation != "silu")
            throw new NotSupportedException($"config.json's hidden_act '{activation}' is not exported; the Llama family's graph writes SwiGLU with silu.");
        if (Bool("use_sliding_window"))
            throw new NotSupportedException("config.json's use_sliding_window is true; the graph attends over the whole context, so sliding-window attention is not exported.");
        int hidden = Int("hidden_size"), heads = Int("num_attention_heads");
        int keyValueHeads = config["num_key_value_heads"] is JsonNode kv ? kv.GetValue<int>() : heads;
        if (keyValueHeads <= 0 || heads % keyValueHeads != 0)
            throw new ArgumentException($"config.json's num_key_value_heads ({keyValueHeads}) must divide num_attention_heads ({heads}).", nameof(json));
        int headDim = config["head_dim"] is JsonNode hd ? hd.GetValue<int>() : hidden / heads;
        if (headDim % 2 != 0)
            throw new ArgumentException($"config.json's head_dim ({headDim}) must be even for rotary position embeddings.", nameof(json));
        bool attentionBias = Bool("attention_bias");
        return new LlamaOnnxShape(modelType, Int("vocab_size"), Int("max_position_embeddings"), hidden, Int("num_hidden_layers"), heads, keyValueHeads,
            headDim, Int("intermediate_size"), Double("rms_norm_eps", 1e-6), Double("rope_theta", 10000), LlamaRopeScaling.From(config["rope_scaling"]),
            QkvBias: modelType == "qwen2" || attentionBias, OutputBias: modelType != "qwen2" && attentionBias, QueryKeyNorm: modelType == "qwen3",
            TiedHead: Bool("tie_word_embeddings"), MlpBias: Bool("mlp_bias"));
    }
}

/// <summary>Llama 3's <c>rope_scaling</c> (<c>rope_type</c> <c>llama3</c>): long wavelengths divided by <paramref name="Factor"/>, short ones kept, those between interpolated.</summary>
internal sealed record LlamaRopeScaling(double Factor, double LowFrequencyFactor, double HighFrequencyFactor, int OriginalContextLength)
{
    /// <summary>The scaling a <c>rope_scaling</c> value describes; null for none or <c>default</c>; refuses other types by name.</summary>
    public static LlamaRopeScaling? From(JsonNode? node)
    {
        if (node is not JsonObject scaling)
            return null;
        string type = (scaling["rope_type"] ?? scaling["type"])?.GetValue<string>() ?? "default";
        if (type == "default")
            return null;
        if (type != "llama3")
            throw new NotSupportedException($"config.json's rope_scaling rope_type '{type}' is not exported; only llama3 scaling (or none) is.");
        double Field(string name) => scaling[name]?.GetValue<double>()
            ?? throw new ArgumentException($"config.json's llama3 rope_scaling has no {name}.");
        return new LlamaRopeScaling(Field("factor"), Field("low_freq_factor"), Field("high_freq_factor"),
            (int)Field("original_max_position_embeddings"));
    }

    /// <summary>The scaled inverse frequencies, as transformers' <c>_compute_llama3_parameters</c> computes them.</summary>
    public double[] Scale(double[] inverseFrequencies)
    {
        double lowFrequencyWavelength = OriginalContextLength / LowFrequencyFactor;
        double highFrequencyWavelength = OriginalContextLength / HighFrequencyFactor;
        return [.. inverseFrequencies.Select(frequency =>
        {
            double wavelength = 2 * Math.PI / frequency;
            if (wavelength < highFrequencyWavelength)
                return frequency;
            if (wavelength > lowFrequencyWavelength)
                return frequency / Factor;
            double smooth = (OriginalContextLength / wavelength - LowFrequencyFactor) / (HighFrequencyFactor - LowFrequencyFactor);
            return (1 - smooth) * frequency / Factor + smooth * frequency;
        })];
    }
}
