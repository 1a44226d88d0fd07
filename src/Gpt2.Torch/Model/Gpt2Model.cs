using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Torch.Model;

// The whole GPT-2 in one file, after nanoGPT's model.py. Submodules carry the names of Hugging Face's
// modeling_gpt2.py (wte, wpe, h.N.ln_1, h.N.attn.c_attn, h.N.attn.c_proj, h.N.ln_2, h.N.mlp.c_fc,
// h.N.mlp.c_proj, ln_f, lm_head), so a GPT-2 state dict maps onto this model by name.
#pragma warning disable IDE1006 // field names are checkpoint names

/// <summary>
/// GPT-2: token and position embeddings, pre-LayerNorm transformer blocks with causal multi-head
/// self-attention, a final LayerNorm and an output head tied to the token embedding (untied as an option).
/// The Hugging Face config fields that change the computation (activation, attention scaling, float32 attention,
/// the three dropouts, LayerNorm epsilon, MLP width) are honoured as Hugging Face's <c>modeling_gpt2.py</c> does.
/// </summary>
/// <remarks>
/// The first model created in a process also changes glibc's allocator for the whole process (on Linux with glibc):
/// large blocks are served from the heap, which is never trimmed, instead of being mapped and unmapped on every
/// tensor, because libtorch's CPU allocator has no cache and the page faults of fresh mappings slow every training step
/// (README's benchmarks). The process then keeps its peak native memory. Set the environment variable
/// <c>GPT2MLNET_DEFAULT_MALLOC=1</c> before the first model is created to keep glibc's defaults.
/// </remarks>
public sealed class Gpt2Model : CausalLanguageModel
{
    private readonly Embedding wte;
    private readonly Embedding wpe;
    private readonly Dropout drop;
    private readonly ModuleList<Gpt2Block> h;
    private readonly LayerNorm ln_f;
    private readonly Linear? lm_head;

    /// <summary>Creates a randomly initialised model (GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 x layers)).</summary>
    /// <param name="config">The model's sizes.</param>
    /// <param name="device">Where the parameters live; <see cref="TorchDevices.Default"/> when null.</param>
    /// <exception cref="InvalidOperationException">No libtorch backend was found; the message names the package to add.</exception>
    public Gpt2Model(Gpt2Config config, Device? device = null) : base("GPT2", config)
    {
        wte = nn.Embedding(config.VocabSize, config.EmbeddingSize);
        wpe = nn.Embedding(config.ContextLength, config.EmbeddingSize);
        drop = nn.Dropout(config.ResolvedEmbeddingDropout);
        h = new ModuleList<Gpt2Block>([.. Enumerable.Range(0, config.LayerCount).Select(layer => new Gpt2Block(config, layer))]);
        ln_f = nn.LayerNorm(config.EmbeddingSize, config.LayerNormEpsilon);
        if (!config.TieWordEmbeddings)
            lm_head = nn.Linear(config.EmbeddingSize, config.VocabSize, hasBias: false);
        RegisterComponents();
        InitializeWeights();
        FinishConstruction(device);
    }

    /// <inheritdoc />
    public override Tensor TokenEmbedding => wte.weight!;

    internal override Tensor OutputWeight => lm_head?.weight ?? wte.weight!;

    internal override long PositionEmbeddingParameterCount => wpe.weight!.numel();

    internal override bool IsLastBlockOrFinalNorm(string name) =>
        name.StartsWith($"h.{h.Count - 1}.", StringComparison.Ordinal) || name.StartsWith("ln_f.", StringComparison.Ordinal);

    // GPT-2's layout is one file (its largest size, 1558M, was published so).
    internal override void SaveCheckpoint(string folder, long maxShardBytes = Checkpoints.HuggingFaceCheckpoint.DefaultMaxShardBytes) =>
        Checkpoints.Gpt2Checkpoint.Save(this, folder);

    internal override void LoadCheckpointWeights(string folder) =>
        Checkpoints.Gpt2Checkpoint.LoadWeights(this, Path.Combine(folder, Checkpoints.Gpt2Checkpoint.WeightsFileName));

    // Block layers are named h.N.attn.c_attn and so on.
    private protected override LoRATargets LoRATargetOf(string layerName) => layerName.Split('.', 3)[2] switch
    {
        "attn.c_attn" => LoRATargets.QueryKeyValue,
        "attn.c_proj" => LoRATargets.AttentionOutput,
        "mlp.c_fc" => LoRATargets.MlpInput,
        "mlp.c_proj" => LoRATargets.MlpOutput,
        _ => throw new InvalidOperationException($"No LoRA target is named for layer '{layerName}'."),
    };

    private protected override Tensor ComputeHiddenStates(Tensor inputIds, AttentionLayout layout, KeyValueCache? cache)
    {
        Tensor x = drop.forward(wte.forward(inputIds) + wpe.forward(layout.Positions));
        for (int layer = 0; layer < h.Count; layer++)
            x = h[layer].Forward(x, layout.Mask, layout.IsCausal, cache, layer);
        return ln_f.forward(x);
    }

    private void InitializeWeights()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // the in-place initialisers return handles of their own
        double residualStd = 0.02 / Math.Sqrt(2.0 * Config.LayerCount);
        foreach ((string name, var parameter) in named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal))
                parameter.zero_();
            else if (name.StartsWith("ln_", StringComparison.Ordinal) || name.Contains(".ln_", StringComparison.Ordinal))
                parameter.fill_(1.0);
            else if (name.EndsWith("c_proj.weight", StringComparison.Ordinal))
                nn.init.normal_(parameter, 0, residualStd);
            else
                nn.init.normal_(parameter, 0, 0.02);
        }
    }
}

/// <summary>A pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).</summary>
internal sealed class Gpt2Block : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln_1;
    private readonly CausalSelfAttention attn;
    private readonly LayerNorm ln_2;
    private readonly Gpt2Mlp mlp;

    public Gpt2Block(Gpt2Config config, int layer) : base("Block")
    {
        ln_1 = nn.LayerNorm(config.EmbeddingSize, config.LayerNormEpsilon);
        attn = new CausalSelfAttention(config, layer);
        ln_2 = nn.LayerNorm(config.EmbeddingSize, config.LayerNormEpsilon);
        mlp = new Gpt2Mlp(config);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null, isCausal: true, null, 0);

    public Tensor Forward(Tensor x, Tensor? mask, bool isCausal, KeyValueCache? cache, int layer)
    {
        x = x + attn.Forward(ln_1.forward(x), mask, isCausal, cache, layer);
        return x + mlp.forward(ln_2.forward(x));
    }
}

/// <summary>
/// Multi-head causal self-attention with one fused query/key/value projection: softmax(scale q k^T) v, with the scale of
/// <see cref="Gpt2Config.AttentionScale"/>; in float32 whatever the model's precision when the config asks for it.
/// </summary>
internal sealed class CausalSelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly LinearWithLoRA c_attn;
    private readonly LinearWithLoRA c_proj;
    private readonly Dropout resid_dropout;
    private readonly int _heads;
    private readonly double _attentionDropout;
    private readonly double? _queryScale;
    private readonly bool _upcast;

    public CausalSelfAttention(Gpt2Config config, int layer) : base("CausalSelfAttention")
    {
        c_attn = new LinearWithLoRA(config.EmbeddingSize, 3 * config.EmbeddingSize, hasBias: config.QkvBias);
        c_proj = new LinearWithLoRA(config.EmbeddingSize, config.EmbeddingSize);
        resid_dropout = nn.Dropout(config.Dropout);
        _heads = config.HeadCount;
        _attentionDropout = config.ResolvedAttentionDropout;
        // scaled_dot_product_attention divides the scores by sqrt(head size); the query carries the rest of the config's
        // scale (none for GPT-2).
        double queryScale = config.AttentionScale(layer) * Math.Sqrt(config.HeadSize);
        _queryScale = Math.Abs(queryScale - 1) < 1e-12 ? null : queryScale;
        _upcast = config.ReorderAndUpcastAttention;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null, isCausal: true, null, 0);

    public Tensor Forward(Tensor x, Tensor? mask, bool isCausal, KeyValueCache? cache, int layer)
    {
        long batch = x.shape[0], length = x.shape[1], width = x.shape[2];
        // [batch, tokens, 3 x width] -> three [batch, heads, tokens, head size] views.
        Tensor qkv = c_attn.forward(x).view(batch, length, 3, _heads, width / _heads).permute(2, 0, 3, 1, 4);
        Tensor query = qkv[0], key = qkv[1], value = qkv[2];
        if (cache is not null)
            (key, value) = cache.Append(layer, key, value);
        // Hugging Face's reorder_and_upcast_attn: scores and softmax in float32 (here the weighted sum of values too).
        ScalarType scores = _upcast ? float32 : x.dtype;
        query = _queryScale is double scale ? query.to(scores) * scale : query.to(scores);
        Tensor y = F.scaled_dot_product_attention(query, key.to(scores), value.to(scores), mask,
            training ? _attentionDropout : 0.0, is_casual: isCausal).to(x.dtype);
        y = y.transpose(1, 2).reshape(batch, length, width);
        return resid_dropout.forward(c_proj.forward(y));
    }
}

/// <summary>The feed-forward network: Linear (4x width unless set), the config's activation (GPT-2: tanh-approximated GELU), Linear back.</summary>
internal sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    /// <summary>The activations a config may name, by their Hugging Face (<c>ACT2FN</c>) names, with ACT2FN's formulas.</summary>
    internal static readonly IReadOnlyDictionary<string, Func<Tensor, Tensor>> Activations = new Dictionary<string, Func<Tensor, Tensor>>
    {
        ["gelu_new"] = x => F.gelu(x, GELU.Approximate.tanh),                // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        ["gelu_pytorch_tanh"] = x => F.gelu(x, GELU.Approximate.tanh),
        ["gelu"] = x => F.gelu(x),                                            // 0.5 x (1 + erf(x / sqrt(2)))
        ["gelu_fast"] = x => 0.5 * x * (1.0 + tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
        ["quick_gelu"] = x => x * sigmoid(1.702 * x),
        ["relu"] = x => F.relu(x),
        ["silu"] = x => F.silu(x),
        ["swish"] = x => F.silu(x),
        ["tanh"] = x => tanh(x),
    };

    private readonly LinearWithLoRA c_fc;
    private readonly LinearWithLoRA c_proj;
    private readonly Dropout dropout;
    private readonly Func<Tensor, Tensor> _activation;

    public Gpt2Mlp(Gpt2Config config) : base("MLP")
    {
        c_fc = new LinearWithLoRA(config.EmbeddingSize, config.ResolvedMlpSize);
        c_proj = new LinearWithLoRA(config.ResolvedMlpSize, config.EmbeddingSize);
        dropout = nn.Dropout(config.Dropout);
        _activation = Activations[config.ActivationFunction];
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        dropout.forward(c_proj.forward(_activation(c_fc.forward(x))));
}
