using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Model;

// The Llama architecture in one file, after nanoGPT's model.py and Hugging Face's modeling_llama.py, modeling_qwen2.py and
// modeling_qwen3.py. Submodules carry Hugging Face's names (model.embed_tokens, model.layers.N.input_layernorm,
// model.layers.N.self_attn.q_proj/k_proj/v_proj/o_proj, self_attn.q_norm/k_norm, model.layers.N.post_attention_layernorm,
// model.layers.N.mlp.gate_proj/up_proj/down_proj, model.norm, lm_head), so a checkpoint's state dict maps onto it by name.
#pragma warning disable IDE1006 // field names are checkpoint names

/// <summary>
/// The Llama architecture: Llama 3.x and SmolLM2, Qwen2/2.5 (biases on the query, key and value projections) and Qwen3
/// (per-head RMSNorm on queries and keys). Token embedding, pre-RMSNorm blocks of grouped-query self-attention with rotary
/// position embeddings (Llama 3's frequency scaling as an option) and a SwiGLU MLP, a final RMSNorm and an output head,
/// tied to the embedding or not; computed as Hugging Face's modeling files do.
/// </summary>
public sealed class LlamaModel : CausalLanguageModel
{
    private readonly LlamaDecoder model;
    private readonly Linear? lm_head;
    private readonly RotaryEmbedding _rotary;
    private readonly LlamaConfig _config;

    /// <summary>Creates a randomly initialised model (Hugging Face's initialisation: weights N(0, initializer_range), biases zero, norms one).</summary>
    /// <param name="config">The model's shape.</param>
    /// <param name="device">Where the parameters live; <see cref="TorchDevices.Default"/> when null.</param>
    /// <exception cref="InvalidOperationException">No libtorch backend was found; the message names the package to add.</exception>
    public LlamaModel(LlamaConfig config, Device? device = null) : this(config, device, initialize: true)
    {
    }

    /// <summary>
    /// A model whose projections are left uninitialised when <paramref name="initialize"/> is false: a checkpoint is
    /// about to fill every weight, and drawing a billion random numbers first would take most of the loading time.
    /// </summary>
    internal LlamaModel(LlamaConfig config, Device? device, bool initialize) : base("Llama", config)
    {
        _config = config;
        model = new LlamaDecoder(config, initialize);
        if (!config.TieWordEmbeddings)
            lm_head = nn.Linear(config.EmbeddingSize, config.VocabSize, hasBias: false);
        _rotary = new RotaryEmbedding(config);
        RegisterComponents();
        if (initialize)
            InitializeWeights();
        FinishConstruction(device);
    }

    /// <inheritdoc />
    public override Tensor TokenEmbedding => model.embed_tokens.weight!;

    internal override Tensor OutputWeight => lm_head?.weight ?? model.embed_tokens.weight!;

    internal override bool IsLastBlockOrFinalNorm(string name) =>
        name.StartsWith($"model.layers.{model.layers.Count - 1}.", StringComparison.Ordinal) || name.StartsWith("model.norm.", StringComparison.Ordinal);

    internal override void SaveCheckpoint(string folder, long maxShardBytes = Checkpoints.HuggingFaceCheckpoint.DefaultMaxShardBytes) =>
        Checkpoints.HuggingFaceCheckpoint.SaveLlama(this, folder, maxShardBytes);

    internal override void LoadCheckpointWeights(string folder) => Checkpoints.HuggingFaceCheckpoint.LoadWeights(this, folder);

    // Block layers are named model.layers.N.self_attn.q_proj and so on.
    private protected override LoRATargets LoRATargetOf(string layerName) => layerName.Split('.', 4)[^1] switch
    {
        "self_attn.q_proj" or "self_attn.k_proj" or "self_attn.v_proj" => LoRATargets.QueryKeyValue,
        "self_attn.o_proj" => LoRATargets.AttentionOutput,
        "mlp.gate_proj" or "mlp.up_proj" => LoRATargets.MlpInput,
        "mlp.down_proj" => LoRATargets.MlpOutput,
        _ => throw new InvalidOperationException($"No LoRA target is named for layer '{layerName}'."),
    };

    private protected override Tensor ComputeHiddenStates(Tensor inputIds, AttentionLayout layout, KeyValueCache? cache)
    {
        Tensor x = model.embed_tokens.forward(inputIds);
        // One rotation table for every block, from the positions that count real tokens only.
        (Tensor cos, Tensor sin) = _rotary.Angles(layout.Positions, x.dtype);
        for (int layer = 0; layer < model.layers.Count; layer++)
            x = model.layers[layer].Forward(x, cos, sin, layout.Mask, layout.IsCausal, cache, layer);
        return model.norm.forward(x);
    }

    private void InitializeWeights()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // the in-place initialisers return handles of their own
        foreach ((string name, Parameter parameter) in named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal))
                parameter.zero_();
            else if (parameter.dim() == 1)   // the RMSNorms' scales
                parameter.fill_(1.0);
            else
                nn.init.normal_(parameter, 0, _config.InitializerRange);
        }
    }
}

/// <summary>The decoder without its head (Hugging Face's <c>LlamaModel</c>, the checkpoint's <c>model.</c> prefix).</summary>
internal sealed class LlamaDecoder : nn.Module<Tensor, Tensor>
{
    internal readonly Embedding embed_tokens;
    internal readonly ModuleList<LlamaBlock> layers;
    internal readonly RmsNorm norm;

    public LlamaDecoder(LlamaConfig config, bool initialize) : base("LlamaDecoder")
    {
        embed_tokens = nn.Embedding(config.VocabSize, config.EmbeddingSize);
        layers = new ModuleList<LlamaBlock>([.. Enumerable.Range(0, config.LayerCount).Select(_ => new LlamaBlock(config, initialize))]);
        norm = new RmsNorm(config.EmbeddingSize, config.RmsNormEpsilon);
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds) =>
        throw new NotSupportedException("The decoder runs through LlamaModel, which supplies the positions and the mask.");
}

/// <summary>A pre-RMSNorm block: x + attention(input_layernorm(x)), then x + mlp(post_attention_layernorm(x)).</summary>
internal sealed class LlamaBlock : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm input_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly SwiGluMlp mlp;

    public LlamaBlock(LlamaConfig config, bool initialize) : base("LlamaBlock")
    {
        input_layernorm = new RmsNorm(config.EmbeddingSize, config.RmsNormEpsilon);
        self_attn = new LlamaAttention(config, initialize);
        post_attention_layernorm = new RmsNorm(config.EmbeddingSize, config.RmsNormEpsilon);
        mlp = new SwiGluMlp(config, initialize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        throw new NotSupportedException("A block runs through LlamaModel, which supplies the rotation and the mask.");

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool isCausal, KeyValueCache? cache, int layer)
    {
        x = x + self_attn.Forward(input_layernorm.forward(x), cos, sin, mask, isCausal, cache, layer);
        return x + mlp.forward(post_attention_layernorm.forward(x));
    }
}

/// <summary>
/// Grouped-query self-attention: query heads in groups that share one key/value head, rotary position embeddings on
/// queries and keys (after Qwen3's per-head RMSNorm), softmax(q k^T / sqrt(head size)) v.
/// </summary>
internal sealed class LlamaAttention : nn.Module<Tensor, Tensor>
{
    private readonly LinearWithLoRA q_proj;
    private readonly LinearWithLoRA k_proj;
    private readonly LinearWithLoRA v_proj;
    private readonly LinearWithLoRA o_proj;
    private readonly RmsNorm? q_norm;
    private readonly RmsNorm? k_norm;
    private readonly int _heads;
    private readonly int _keyValueHeads;
    private readonly int _headSize;
    private readonly double _dropout;

    public LlamaAttention(LlamaConfig config, bool initialize) : base("LlamaAttention")
    {
        _heads = config.HeadCount;
        _keyValueHeads = config.KeyValueHeadCount;
        _headSize = config.HeadSize;
        _dropout = config.AttentionDropout;
        q_proj = new LinearWithLoRA(config.EmbeddingSize, _heads * _headSize, config.QueryKeyValueBias, initialize);
        k_proj = new LinearWithLoRA(config.EmbeddingSize, _keyValueHeads * _headSize, config.QueryKeyValueBias, initialize);
        v_proj = new LinearWithLoRA(config.EmbeddingSize, _keyValueHeads * _headSize, config.QueryKeyValueBias, initialize);
        o_proj = new LinearWithLoRA(_heads * _headSize, config.EmbeddingSize, config.OutputBias, initialize);
        if (config.QueryKeyNorm)
        {
            q_norm = new RmsNorm(_headSize, config.RmsNormEpsilon);
            k_norm = new RmsNorm(_headSize, config.RmsNormEpsilon);
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        throw new NotSupportedException("Attention runs through LlamaModel, which supplies the rotation and the mask.");

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool isCausal, KeyValueCache? cache, int layer)
    {
        long batch = x.shape[0], length = x.shape[1];
        // [batch, tokens, heads x head size] -> [batch, tokens, heads, head size]; Qwen3 normalises each head, then all
        // move to [batch, heads, tokens, head size].
        Tensor query = q_proj.forward(x).view(batch, length, _heads, _headSize);
        Tensor key = k_proj.forward(x).view(batch, length, _keyValueHeads, _headSize);
        Tensor value = v_proj.forward(x).view(batch, length, _keyValueHeads, _headSize).transpose(1, 2);
        if (q_norm is not null)
        {
            query = q_norm.forward(query);
            key = k_norm!.forward(key);
        }
        query = RotaryEmbedding.Rotate(query.transpose(1, 2), cos, sin);
        key = RotaryEmbedding.Rotate(key.transpose(1, 2), cos, sin);
        // The cache stores the key/value heads, before they are shared out to the query heads.
        if (cache is not null)
            (key, value) = cache.Append(layer, key, value);
        Tensor y = Attend(query, key, value, mask, isCausal, training ? _dropout : 0.0);
        return o_proj.forward(y.transpose(1, 2).reshape(batch, length, _heads * _headSize));
    }

    private Tensor Attend(Tensor query, Tensor key, Tensor value, Tensor? mask, bool isCausal, double dropout)
    {
        int groups = _heads / _keyValueHeads;
        if (groups == 1)
            return F.scaled_dot_product_attention(query, key, value, mask, dropout, is_casual: isCausal);
        if (isCausal)
        {
            // A first pass without padding keeps scaled_dot_product_attention's causal fast path: each key/value head is
            // repeated for the query heads of its group (Hugging Face's repeat_kv).
            return F.scaled_dot_product_attention(query, key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1), null, dropout, is_casual: true);
        }
        // Otherwise the queries of a group attend as one longer sequence to their key/value head, so that decoding never
        // copies the cache: [batch, heads, tokens, size] -> [batch, key/value heads, group x tokens, size], each row
        // masked as its token is.
        long batch = query.shape[0], length = query.shape[2], total = key.shape[2];
        Tensor grouped = query.reshape(batch, _keyValueHeads, groups * length, _headSize);
        Tensor? groupedMask = mask is null ? null
            : mask.unsqueeze(2).expand(mask.shape[0], 1, groups, length, total).reshape(mask.shape[0], 1, groups * length, total);
        return F.scaled_dot_product_attention(grouped, key, value, groupedMask, dropout, is_casual: false)
            .reshape(batch, _heads, length, _headSize);
    }
}

/// <summary>The SwiGLU feed-forward network: down_proj(silu(gate_proj(x)) * up_proj(x)).</summary>
internal sealed class SwiGluMlp : nn.Module<Tensor, Tensor>
{
    private readonly LinearWithLoRA gate_proj;
    private readonly LinearWithLoRA up_proj;
    private readonly LinearWithLoRA down_proj;

    public SwiGluMlp(LlamaConfig config, bool initialize) : base("SwiGluMlp")
    {
        gate_proj = new LinearWithLoRA(config.EmbeddingSize, config.MlpSize, hasBias: false, initialize);
        up_proj = new LinearWithLoRA(config.EmbeddingSize, config.MlpSize, hasBias: false, initialize);
        down_proj = new LinearWithLoRA(config.MlpSize, config.EmbeddingSize, hasBias: false, initialize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => down_proj.forward(F.silu(gate_proj.forward(x)) * up_proj.forward(x));
}

/// <summary>
/// Root-mean-square normalisation over the last dimension, x / sqrt(mean(x^2) + eps) * weight, computed in float32 whatever
/// the model's precision and rounded back before the scale, as Hugging Face's LlamaRMSNorm does.
/// </summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double _epsilon;

    public RmsNorm(long size, double epsilon) : base("RmsNorm")
    {
        weight = new Parameter(ones(size));
        _epsilon = epsilon;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        Tensor wide = x.to(float32);
        Tensor normalized = wide * (wide.pow(2).mean([-1L], keepdim: true) + _epsilon).rsqrt();
        return weight * normalized.to(x.dtype);
    }
}

/// <summary>
/// Rotary position embeddings in Hugging Face's rotate-half layout: dimension i of a head's first half turns with
/// dimension i of its second half, by the angle position x inverse frequency i. The inverse frequencies (Llama 3's
/// scaling applied) are float32 and are not a parameter or buffer of the model, so they stay float32 when the model
/// converts to bfloat16 and never enter a checkpoint; they follow the positions' device.
/// </summary>
internal sealed class RotaryEmbedding
{
    private readonly float[] _inverseFrequencies;
    private Tensor? _onDevice;

    public RotaryEmbedding(LlamaConfig config)
    {
        int size = config.HeadSize;
        _inverseFrequencies = new float[size / 2];
        for (int i = 0; i < size / 2; i++)
        {
            // As Hugging Face computes them: base^(2i / size) in float32.
            float frequency = 1f / MathF.Pow((float)config.RopeTheta, 2 * i / (float)size);
            _inverseFrequencies[i] = config.RopeScaling is { } scaling ? Llama3Scaled(frequency, scaling) : frequency;
        }
    }

    // Llama 3.1's scaling (modeling_rope_utils' _compute_llama3_parameters): long wavelengths slowed by the factor, short
    // ones kept, those between interpolated.
    private static float Llama3Scaled(float frequency, Llama3RopeScaling scaling)
    {
        float wavelength = 2 * MathF.PI / frequency;
        float lowFrequencyWavelength = (float)(scaling.OriginalContextLength / scaling.LowFrequencyFactor);
        float highFrequencyWavelength = (float)(scaling.OriginalContextLength / scaling.HighFrequencyFactor);
        float factor = (float)scaling.Factor;
        if (wavelength > lowFrequencyWavelength)
            return frequency / factor;
        if (wavelength < highFrequencyWavelength)
            return frequency;
        float smooth = (float)((scaling.OriginalContextLength / wavelength - scaling.LowFrequencyFactor) / (scaling.HighFrequencyFactor - scaling.LowFrequencyFactor));
        return (1 - smooth) * frequency / factor + smooth * frequency;
    }

    /// <summary>cos and sin of every position's angles [batch or 1, tokens, head size], computed in float32, in <paramref name="dtype"/>.</summary>
    public (Tensor Cos, Tensor Sin) Angles(Tensor positions, ScalarType dtype)
    {
        Tensor frequencies = InverseFrequencies(positions.device);
        Tensor angles = positions.to(float32).unsqueeze(-1) * frequencies;
        Tensor both = cat([angles, angles], -1);
        return (both.cos().to(dtype), both.sin().to(dtype));
    }

    private Tensor InverseFrequencies(Device device)
    {
        Tensor? current = _onDevice;
        if (current is not null && current.device_type == device.type && current.device_index == device.index)
            return current;
        Tensor moved = tensor(_inverseFrequencies, dtype: float32).to(device).DetachFromDisposeScope();
        _onDevice = moved;
        return moved;
    }

    /// <summary>x cos + rotate_half(x) sin for x [batch, heads, tokens, size] and cos, sin [batch or 1, tokens, size].</summary>
    public static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        Tensor rotated = cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
    }
}
