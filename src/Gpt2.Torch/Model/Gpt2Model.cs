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
/// <para>Every way of getting a model (a new one, a checkpoint, a trainer's checkpoint) goes through the constructor, which
/// first checks that TorchSharp finds a libtorch backend: without one (the application references neither
/// TorchSharp-cpu nor TorchSharp-cuda-linux/-windows) it throws an <see cref="InvalidOperationException"/> that names the
/// package to add, with TorchSharp's own exception inside.</para>
/// <para>The first model created in a process also changes glibc's allocator for the whole process (on Linux with glibc):
/// large blocks are served from the heap, which is never trimmed, instead of being mapped and unmapped on every
/// tensor, because libtorch's CPU allocator has no cache and the page faults of fresh mappings slow every training step
/// (README's benchmarks). The process then keeps its peak native memory. Set the environment variable
/// <c>GPT2MLNET_DEFAULT_MALLOC=1</c> before the first model is created to keep glibc's defaults.</para>
/// </remarks>
public sealed class Gpt2Model : nn.Module<Tensor, Tensor>
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
    public Gpt2Model(Gpt2Config config, Device? device = null) : base(TorchBackend.EnsureAvailable("GPT2"))
    {
        NativeMemoryTuning.Apply();
        config.Validate();
        Config = config;
        wte = nn.Embedding(config.VocabSize, config.EmbeddingSize);
        wpe = nn.Embedding(config.ContextLength, config.EmbeddingSize);
        drop = nn.Dropout(config.ResolvedEmbeddingDropout);
        h = new ModuleList<Gpt2Block>([.. Enumerable.Range(0, config.LayerCount).Select(layer => new Gpt2Block(config, layer))]);
        ln_f = nn.LayerNorm(config.EmbeddingSize, config.LayerNormEpsilon);
        if (!config.TieWordEmbeddings)
            lm_head = nn.Linear(config.EmbeddingSize, config.VocabSize, hasBias: false);
        RegisterComponents();
        InitializeWeights();
        this.to(TorchDevices.Resolve(device));
        // A model created inside a caller's dispose scope must outlive it.
        foreach (Tensor parameter in parameters())
            parameter.DetachFromDisposeScope();
    }

    /// <summary>The model's sizes.</summary>
    public Gpt2Config Config { get; }

    /// <summary>The device of the model's parameters.</summary>
    public Device Device => wte.weight!.device;

    /// <summary>The precision of the model's weights, activations and key/value cache (logits are float32 in both).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The weights are neither float32 nor bfloat16 (converted with <c>to(dtype)</c>).</exception>
    public Precision Precision => wte.weight!.dtype.ToPrecision();

    /// <summary>
    /// Converts every parameter to <paramref name="precision"/> in place and returns the model. A bfloat16 model holds half
    /// the bytes, and on CPUs with AVX-512 BF16 its matrix products run faster and batch-1 decoding, which reads every
    /// weight once per token, reads half the bytes (README's benchmarks). Its logits are still float32
    /// (the output head's product is rounded to bfloat16 first, a relative error of at most 2^-8) so that softmax and
    /// sampling run in float32. Converting back to float32 does not restore the bits bfloat16 rounded away.
    /// </summary>
    /// <remarks>Meant for inference: an optimizer created before the conversion still holds the old parameters.</remarks>
    public Gpt2Model ToPrecision(Precision precision)
    {
        ScalarType type = precision.ToScalarType();
        if (wte.weight!.dtype != type)
        {
            this.to(type);
            foreach (Tensor parameter in parameters())
                parameter.DetachFromDisposeScope();
        }
        return this;
    }

    /// <summary>The token embedding, also the output head's weight when tied.</summary>
    public Tensor TokenEmbedding => wte.weight!;

    /// <summary>Number of distinct parameters (a tied head counts once).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Number of parameters training updates (those with <c>requires_grad</c>).</summary>
    public long TrainableParameterCount => parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    /// <summary>The settings of the model's low-rank adapters, or null when it has none.</summary>
    public LoRAOptions? LoRA { get; private set; }

    /// <summary>
    /// Adds low-rank adapters (the book's appendix E) to the block layers <paramref name="options"/> targets and freezes
    /// every other parameter, so that training updates the adapters only. The outputs do not change until the adapters
    /// train (B starts at zero). Called again with the same options, it keeps the adapters and freezes the rest again.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model has adapters with other options.</exception>
    public void AddLoRA(LoRAOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (LoRA is not null && LoRA != options)
            throw new InvalidOperationException($"The model already has adapters ({LoRA}); fold them in with MergeLoRA() before adding others.");
        if (LoRA is null)
        {
            foreach (LinearWithLoRA layer in AdaptableLayers(options.Targets))
                layer.AddAdapter(options.Rank, options.Alpha);
            LoRA = options;
        }
        foreach ((string name, Parameter parameter) in named_parameters())
            parameter.requires_grad = IsAdapterParameter(name);
    }

    /// <summary>
    /// Folds every adapter into its layer's weight (W + alpha (A B)^T) and removes it: the same outputs from a model of
    /// GPT-2's layout and size, ready for checkpoints and export. The other parameters keep their trainable flags.
    /// </summary>
    public void MergeLoRA()
    {
        foreach (LinearWithLoRA layer in AdaptableLayers(LoRATargets.All))
            layer.MergeAdapter();
        LoRA = null;
    }

    /// <summary>Whether <paramref name="name"/> (as <c>named_parameters</c> gives it, at any nesting) is an adapter's parameter.</summary>
    internal static bool IsAdapterParameter(string name) => name.Contains(".lora.", StringComparison.Ordinal);

    private IEnumerable<LinearWithLoRA> AdaptableLayers(LoRATargets targets) =>
        named_modules().Where(m => m.module is LinearWithLoRA && targets.HasFlag(TargetOf(m.name))).Select(m => (LinearWithLoRA)m.module);

    // Block layers are named h.N.attn.c_attn and so on.
    private static LoRATargets TargetOf(string layerName) => layerName.Split('.', 3)[2] switch
    {
        "attn.c_attn" => LoRATargets.QueryKeyValue,
        "attn.c_proj" => LoRATargets.AttentionOutput,
        "mlp.c_fc" => LoRATargets.MlpInput,
        "mlp.c_proj" => LoRATargets.MlpOutput,
        _ => throw new InvalidOperationException($"No LoRA target is named for layer '{layerName}'."),
    };

    /// <summary>An empty key/value cache for incremental decoding of <paramref name="batchSize"/> sequences.</summary>
    /// <param name="batchSize">Sequences decoded together.</param>
    /// <param name="capacity">Most tokens the cache holds; the context length when null.</param>
    public KeyValueCache CreateCache(int batchSize, int? capacity = null) =>
        new(Config, batchSize, capacity ?? Config.ContextLength, Device, wte.weight!.dtype);

    /// <summary>Next-token logits [batch, tokens, vocab] for token ids [batch, tokens].</summary>
    public override Tensor forward(Tensor inputIds) => Forward(inputIds);

    /// <summary>Next-token logits [batch, tokens, vocab].</summary>
    /// <param name="inputIds">Token ids [batch, tokens], int64.</param>
    /// <param name="cache">Keys and values of earlier tokens; the new tokens' are appended. Use under <c>torch.no_grad()</c>.</param>
    /// <param name="attentionMask">
    /// [batch, cached + new tokens], 1 for real tokens and 0 for padding. Padded positions are never attended
    /// to, and positions count real tokens only, so a left-padded row gives the same result as on its own.
    /// </param>
    public Tensor Forward(Tensor inputIds, KeyValueCache? cache = null, Tensor? attentionMask = null) =>
        ComputeLogits(ComputeHiddenStates(inputIds, cache, attentionMask));

    /// <summary>The final LayerNorm's output [batch, tokens, embedding], before the output head.</summary>
    public Tensor ComputeHiddenStates(Tensor inputIds, KeyValueCache? cache = null, Tensor? attentionMask = null)
    {
        ValidateInput(inputIds, cache, attentionMask);
        long batch = inputIds.shape[0], length = inputIds.shape[1];
        long past = cache?.Length ?? 0, total = past + length;

        Tensor? mask = null;
        bool isCausal = false;
        Tensor positions;
        if (attentionMask is null)
        {
            positions = arange(past, total, dtype: int64, device: inputIds.device).unsqueeze(0);
            if (past == 0)
                isCausal = length > 1;
            else if (length > 1)
                mask = CausalMask(past, length, inputIds.device);
        }
        else
        {
            Tensor keep = attentionMask.to(@bool);
            positions = (keep.to(int64).cumsum(1) - 1).clamp_min(0).narrow(1, past, length);
            // A padded query attends to itself only, which keeps its softmax finite; real tokens never see padding.
            Tensor diagonal = arange(total, device: inputIds.device).unsqueeze(0) == arange(past, total, device: inputIds.device).unsqueeze(1);
            mask = (keep.view(batch, 1, 1, total) & CausalMask(past, length, inputIds.device)) | diagonal;
        }

        Tensor x = drop.forward(wte.forward(inputIds) + wpe.forward(positions));
        for (int layer = 0; layer < h.Count; layer++)
            x = h[layer].Forward(x, mask, isCausal, cache, layer);
        cache?.Advance(length);
        return ln_f.forward(x);
    }

    /// <summary>
    /// Applies the output head to hidden states: logits in float32 (float64 for a float64 model) whatever the model's
    /// precision; they may be a transposed (non-contiguous) view.
    /// </summary>
    public Tensor ComputeLogits(Tensor hiddenStates)
    {
        Tensor weight = OutputWeight;
        // [vocab, embedding] x [embedding, tokens], then transposed: with a 50257-row weight, MKL runs this
        // product markedly faster on CPU than the [tokens, vocab] = x W^T layout.
        long[] shape = [.. hiddenStates.shape[..^1], weight.shape[0]];
        Tensor logits = weight.matmul(hiddenStates.reshape(-1, hiddenStates.shape[^1]).t()).t().reshape(shape);
        return logits.to(promote_types(logits.dtype, float32));
    }

    /// <summary>The output head's weight [vocab, embedding]: the token embedding when tied.</summary>
    internal Tensor OutputWeight => lm_head?.weight ?? wte.weight!;

    private static Tensor CausalMask(long past, long length, Device device) =>
        arange(past + length, device: device).unsqueeze(0) <= arange(past, past + length, device: device).unsqueeze(1);

    private void ValidateInput(Tensor inputIds, KeyValueCache? cache, Tensor? attentionMask)
    {
        if (inputIds.dtype != int64)
            throw new ArgumentException($"Token ids must be int64, not {inputIds.dtype}.", nameof(inputIds));
        if (inputIds.dim() != 2)
            throw new ArgumentException(
                $"Token ids must have shape [batch, tokens], but have {inputIds.dim()} dimensions; use unsqueeze(0) for a single sequence.",
                nameof(inputIds));
        long length = inputIds.shape[1];
        if (inputIds.shape[0] == 0 || length == 0)
            throw new ArgumentException("The input holds no tokens; give at least one token per sequence.", nameof(inputIds));
        long past = cache?.Length ?? 0;
        if (past + length > Config.ContextLength)
            throw new ArgumentException(
                $"{length} tokens{(past > 0 ? $" after {past} cached ones" : "")} exceed the model's context length of {Config.ContextLength}; " +
                $"keep only the last {Config.ContextLength - past} tokens.", nameof(inputIds));
        if (cache is not null && cache.BatchSize != inputIds.shape[0])
            throw new ArgumentException($"The cache was made for batch size {cache.BatchSize}, but the input has {inputIds.shape[0]} sequences.", nameof(cache));
        if (attentionMask is not null && (attentionMask.dim() != 2 || attentionMask.shape[0] != inputIds.shape[0] || attentionMask.shape[1] != past + length))
            throw new ArgumentException(
                $"The attention mask must have shape [{inputIds.shape[0]}, {past + length}] (cached plus new tokens), but has [{string.Join(", ", attentionMask.shape)}].",
                nameof(attentionMask));

        // Token ids are not read back here (that would synchronise with the device on every pass): they are checked where
        // they enter, by the generator, the batches and the classifier (Gpt2Config.CheckTokenIds).
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
