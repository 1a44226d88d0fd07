using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

/// <summary>
/// A decoder-only language model of any family the product computes (<see cref="Gpt2Model"/>, <see cref="LlamaModel"/>
/// for Llama, Qwen2 and Qwen3): token ids in, next-token logits out, with a key/value cache for incremental decoding,
/// left-padding masks for batches, precision conversion and low-rank adapters. The model host, the training loop, the
/// classifier and the exporters work on this type, so a family plugs in by deriving from it.
/// </summary>
/// <remarks>
/// Every way of getting a model goes through a family's constructor, which first checks that TorchSharp finds a libtorch
/// backend: without one (the application references neither TorchSharp-cpu nor TorchSharp-cuda-linux/-windows) it throws
/// an <see cref="InvalidOperationException"/> that names the package to add.
/// </remarks>
public abstract class CausalLanguageModel : nn.Module<Tensor, Tensor>
{
    /// <summary>Checks for a libtorch backend, names the module and validates the config.</summary>
    private protected CausalLanguageModel(string name, LanguageModelConfig config) : base(TorchBackend.EnsureAvailable(name))
    {
        ArgumentNullException.ThrowIfNull(config);
        NativeMemoryTuning.Apply();
        config.Validate();
        Config = config;
    }

    // Not overridden with a family's own config type: TorchSharp's Module.to() indexes the public properties by name,
    // and a covariant override would list two properties named Config.
    /// <summary>The model's family and shape (<see cref="Gpt2Config"/>, <see cref="LlamaConfig"/>).</summary>
    public LanguageModelConfig Config { get; }

    /// <summary>The token embedding [vocab, embedding], also the output head's weight when tied.</summary>
    public abstract Tensor TokenEmbedding { get; }

    /// <summary>The output head's weight [vocab, embedding]: the token embedding when tied.</summary>
    internal abstract Tensor OutputWeight { get; }

    /// <summary>The device of the model's parameters.</summary>
    public Device Device => TokenEmbedding.device;

    /// <summary>The precision of the model's weights, activations and key/value cache (logits are float32 in every precision).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The weights are neither float32 nor bfloat16 (converted with <c>to(dtype)</c>).</exception>
    public Precision Precision => TokenEmbedding.dtype.ToPrecision();

    /// <summary>
    /// Converts every parameter to <paramref name="precision"/> in place and returns the model. A bfloat16 model holds half
    /// the bytes, and on CPUs with AVX-512 BF16 its matrix products run faster and batch-1 decoding, which reads every
    /// weight once per token, reads half the bytes (README's benchmarks). Its logits are still float32
    /// (the output head's product is rounded to bfloat16 first, a relative error of at most 2^-8) so that softmax and
    /// sampling run in float32. Converting back to float32 does not restore the bits bfloat16 rounded away.
    /// </summary>
    /// <remarks>Meant for inference: an optimizer created before the conversion still holds the old parameters.</remarks>
    public CausalLanguageModel ToPrecision(Precision precision)
    {
        ScalarType type = precision.ToScalarType();
        if (TokenEmbedding.dtype != type)
        {
            this.to(type);
            foreach (Tensor parameter in parameters())
                parameter.DetachFromDisposeScope();
        }
        return this;
    }

    /// <summary>Number of distinct parameters (a tied head counts once).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Parameters of a learned position embedding (GPT-2's <c>wpe</c>), which a forward pass reads but multiplies nothing with; 0 for rotary families.</summary>
    internal virtual long PositionEmbeddingParameterCount => 0;

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
    /// the family's layout and size, ready for checkpoints and export. The other parameters keep their trainable flags.
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
        named_modules().Where(m => m.module is LinearWithLoRA && targets.HasFlag(LoRATargetOf(m.name))).Select(m => (LinearWithLoRA)m.module);

    /// <summary>Which <see cref="LoRATargets"/> flag the adaptable layer <paramref name="layerName"/> (its <c>named_modules</c> name) belongs to.</summary>
    private protected abstract LoRATargets LoRATargetOf(string layerName);

    /// <summary>An empty key/value cache for incremental decoding of <paramref name="batchSize"/> sequences.</summary>
    /// <param name="batchSize">Sequences decoded together.</param>
    /// <param name="capacity">Most tokens the cache holds; the context length when null.</param>
    public KeyValueCache CreateCache(int batchSize, int? capacity = null) =>
        new(Config, batchSize, capacity ?? Config.ContextLength, Device, TokenEmbedding.dtype);

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

    /// <summary>The final normalization's output [batch, tokens, embedding], before the output head; parameters as <see cref="Forward"/>'s.</summary>
    public Tensor ComputeHiddenStates(Tensor inputIds, KeyValueCache? cache = null, Tensor? attentionMask = null)
    {
        ValidateInput(inputIds, cache, attentionMask);
        AttentionLayout layout = AttentionLayout.Create(inputIds, cache, attentionMask);
        Tensor hidden = ComputeHiddenStates(inputIds, layout, cache);
        cache?.Advance(inputIds.shape[1]);
        return hidden;
    }

    /// <summary>
    /// The family's computation from token ids to the final normalization's output: embeddings, every block (each appends
    /// its keys and values to <paramref name="cache"/> when there is one; the cache's length advances after this returns),
    /// the final normalization.
    /// </summary>
    private protected abstract Tensor ComputeHiddenStates(Tensor inputIds, AttentionLayout layout, KeyValueCache? cache);

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

    /// <summary>
    /// Whether the parameter <paramref name="name"/> (as the model's <c>named_parameters</c> gives it) belongs to the last
    /// transformer block or the final normalization: what <see cref="TrainableLayers.LastBlock"/> trains.
    /// </summary>
    internal abstract bool IsLastBlockOrFinalNorm(string name);

    /// <summary>
    /// Saves the model as its family's Hugging Face checkpoint folder (config.json, weights, tokenizer files where the
    /// family has them), in shards of at most <paramref name="maxShardBytes"/> where the family's layout has shards.
    /// </summary>
    internal abstract void SaveCheckpoint(string folder, long maxShardBytes = Checkpoints.HuggingFaceCheckpoint.DefaultMaxShardBytes);

    /// <summary>Copies the weights of a checkpoint folder saved by <see cref="SaveCheckpoint"/> from a model of the same config into this model.</summary>
    internal abstract void LoadCheckpointWeights(string folder);

    /// <summary>Moves every parameter created by a family's constructor to its device and out of any caller's dispose scope.</summary>
    private protected void FinishConstruction(Device? device)
    {
        this.to(TorchDevices.Resolve(device));
        // A model created inside a caller's dispose scope must outlive it.
        foreach (Tensor parameter in parameters())
            parameter.DetachFromDisposeScope();
    }

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
        int contextLength = Config.ContextLength;
        if (past + length > contextLength)
            throw new ArgumentException(
                $"{length} tokens{(past > 0 ? $" after {past} cached ones" : "")} exceed the model's context length of {contextLength}; " +
                $"keep only the last {contextLength - past} tokens.", nameof(inputIds));
        if (cache is not null && cache.BatchSize != inputIds.shape[0])
            throw new ArgumentException($"The cache was made for batch size {cache.BatchSize}, but the input has {inputIds.shape[0]} sequences.", nameof(cache));
        if (attentionMask is not null && (attentionMask.dim() != 2 || attentionMask.shape[0] != inputIds.shape[0] || attentionMask.shape[1] != past + length))
            throw new ArgumentException(
                $"The attention mask must have shape [{inputIds.shape[0]}, {past + length}] (cached plus new tokens), but has [{string.Join(", ", attentionMask.shape)}].",
                nameof(attentionMask));

        // Token ids are not read back here (that would synchronise with the device on every pass): they are checked where
        // they enter, by the generator, the batches and the classifier (LanguageModelConfig.CheckTokenIds).
    }
}
