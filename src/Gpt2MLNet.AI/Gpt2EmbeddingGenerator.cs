using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.Extensions.AI;
using Device = TorchSharp.torch.Device;

namespace Gpt2MLNet.AI;

/// <summary>
/// Text embeddings from a GPT-2 behind Microsoft.Extensions.AI's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>:
/// each text's final hidden states (after the last LayerNorm) pooled by <see cref="Pooling"/>, optionally scaled to unit
/// length, computed for several texts at once by a <see cref="LanguageModelHost"/> (<see cref="LanguageModelHost.EmbedAsync"/>).
/// </summary>
/// <remarks>
/// <para>A text longer than the context keeps its first context-length tokens. The vectors have
/// <see cref="Gpt2Config.EmbeddingSize"/> dimensions; <see cref="EmbeddingGenerationOptions.Dimensions"/> asking for
/// another size, and a <see cref="EmbeddingGenerationOptions.ModelId"/> other than this generator's, are refused with
/// <see cref="NotSupportedException"/>.</para>
/// <para>Every member is thread-safe. Each batch of <see cref="BatchSize"/> texts runs on the host's scheduler thread
/// between decode steps: built over the host of a <see cref="Gpt2TextGenerationService"/> (<see cref="Gpt2TextGenerationService.Host"/>,
/// which a <see cref="Gpt2ChatClient"/> uses too), embeddings and generations interleave step by step on one model;
/// built from a model, the generator has a host of its own, and still never runs the model at the same time as
/// another adapter built from that model.</para>
/// </remarks>
public sealed class Gpt2EmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly bool _ownsHost;
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>An embedding generator over <paramref name="model"/>, with a host of its own.</summary>
    /// <param name="model">The model; it is put in evaluation mode while embedding.</param>
    /// <param name="pooling">How token states become one vector.</param>
    /// <param name="normalize">Whether vectors are scaled to unit L2 length (then a dot product is the cosine similarity).</param>
    /// <param name="modelId">The model id reported; "gpt2" when null.</param>
    /// <param name="batchSize">Texts embedded together in one forward pass.</param>
    /// <param name="ownsModel">Whether disposing the generator disposes the model.</param>
    public Gpt2EmbeddingGenerator(CausalLanguageModel model, EmbeddingPooling pooling = EmbeddingPooling.Mean, bool normalize = false, string? modelId = null,
        int batchSize = 16, bool ownsModel = false)
        : this(new LanguageModelHost(model ?? throw new ArgumentNullException(nameof(model)), ownsModel: ownsModel), ownsHost: true, pooling, normalize, modelId, batchSize)
    {
    }

    /// <summary>An embedding generator over <paramref name="host"/>, which stays its owner's: share the host of a text generation service or chat client.</summary>
    /// <param name="host">The host that runs the model.</param>
    /// <param name="pooling">How token states become one vector.</param>
    /// <param name="normalize">Whether vectors are scaled to unit L2 length (then a dot product is the cosine similarity).</param>
    /// <param name="modelId">The model id reported; "gpt2" when null.</param>
    /// <param name="batchSize">Texts embedded together in one forward pass.</param>
    public Gpt2EmbeddingGenerator(LanguageModelHost host, EmbeddingPooling pooling = EmbeddingPooling.Mean, bool normalize = false, string? modelId = null,
        int batchSize = 16)
        : this(host ?? throw new ArgumentNullException(nameof(host)), ownsHost: false, pooling, normalize, modelId, batchSize)
    {
    }

    private Gpt2EmbeddingGenerator(LanguageModelHost host, bool ownsHost, EmbeddingPooling pooling, bool normalize, string? modelId, int batchSize)
    {
        try
        {
            OptionChecks.Defined(pooling, nameof(pooling));
            OptionChecks.AtLeast(batchSize, 1, nameof(batchSize), "16");
        }
        catch
        {
            if (ownsHost)
                host.Dispose();
            throw;
        }
        Host = host;
        _ownsHost = ownsHost;
        Pooling = pooling;
        Normalize = normalize;
        BatchSize = batchSize;
        ModelId = string.IsNullOrWhiteSpace(modelId) ? "gpt2" : modelId;
        _metadata = new EmbeddingGeneratorMetadata(Gpt2ChatClient.ProviderName, providerUri: null, ModelId, host.Model.Config.EmbeddingSize);
    }

    /// <summary>An embedding generator over the model of <paramref name="source"/> (preset, Hugging Face id or folder), which it owns (a model in memory stays its owner's).</summary>
    public static Gpt2EmbeddingGenerator Create(LanguageModelSource source, EmbeddingPooling pooling = EmbeddingPooling.Mean, bool normalize = false,
        Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        // The host loads the model with the tokenizer its weights came with (a family other than GPT-2 has no built-in
        // one); embeddings run on the model itself, so no ONNX session is exported for decoding.
        LanguageModelHost host = LanguageModelHost.Load(source, device, DecodingEngine.TorchSharp);
        return new Gpt2EmbeddingGenerator(host, ownsHost: true, pooling, normalize, source.NameOrPath, batchSize: 16);
    }

    /// <summary>The host that runs the model.</summary>
    public LanguageModelHost Host { get; }

    /// <summary>The model whose hidden states are pooled.</summary>
    public CausalLanguageModel Model => Host.Model;

    /// <summary>How token states become one vector.</summary>
    public EmbeddingPooling Pooling { get; }

    /// <summary>Whether vectors have unit L2 length.</summary>
    public bool Normalize { get; }

    /// <summary>Texts embedded together in one forward pass.</summary>
    public int BatchSize { get; }

    /// <summary>The model id reported.</summary>
    public string ModelId { get; }

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckOptions(options);
        string[] texts = [.. values];
        int[][] ids = new int[texts.Length][];
        for (int i = 0; i < texts.Length; i++)
        {
            if (string.IsNullOrEmpty(texts[i]))
                throw new ArgumentException($"Text {i} is empty; an embedding needs at least one token.", nameof(values));
            int[] all = Tokenize(texts[i]);
            ids[i] = all.Length <= Model.Config.ContextLength ? all : all[..Model.Config.ContextLength];
        }
        return EmbedAsync(ids, cancellationToken);
    }

    /// <summary>
    /// The embeddings of token lists as they are (no beginning-of-text token is added), batched as texts are; unlike
    /// texts, a list longer than the context is refused rather than cut.
    /// </summary>
    /// <param name="tokenIds">One or more lists of 1 to context-length token ids of the model's vocabulary.</param>
    /// <param name="options">As for texts: only <see cref="EmbeddingGenerationOptions.Dimensions"/> equal to the model's and this generator's model id.</param>
    /// <param name="cancellationToken">Cancels the batches not yet run.</param>
    /// <exception cref="ArgumentException">No lists, an empty list, a list longer than the context, or an id outside the vocabulary.</exception>
    /// <exception cref="NotSupportedException">Options this generator cannot honour.</exception>
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateFromTokensAsync(IReadOnlyList<IReadOnlyList<int>> tokenIds,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        CheckOptions(options);
        if (tokenIds.Count == 0)
            throw new ArgumentException("Give at least one token list to embed.", nameof(tokenIds));
        int[][] ids = new int[tokenIds.Count][];
        for (int i = 0; i < ids.Length; i++)
        {
            if (tokenIds[i] is null || tokenIds[i].Count == 0)
                throw new ArgumentException($"Token list {i} is empty; an embedding needs at least one token.", nameof(tokenIds));
            if (tokenIds[i].Count > Model.Config.ContextLength)
                throw new ArgumentException($"Token list {i} has {tokenIds[i].Count} tokens, more than the model's context of {Model.Config.ContextLength}.", nameof(tokenIds));
            ids[i] = [.. tokenIds[i]];
            Model.Config.CheckTokenIds(ids[i], nameof(tokenIds), $"token list {i}");
        }
        return EmbedAsync(ids, cancellationToken);
    }

    /// <summary>The tokens a text is embedded from (the family's beginning-of-text token first), before any cut to the context.</summary>
    public int[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Host.Tokenizer.EncodeWithBeginningOfText(text);
    }

    private void CheckOptions(EmbeddingGenerationOptions? options)
    {
        if (options is null)
            return;
        if (options.Dimensions is int dimensions && dimensions != Model.Config.EmbeddingSize)
            throw new NotSupportedException(
                $"EmbeddingGenerationOptions.Dimensions is not supported: this model's embeddings have {Model.Config.EmbeddingSize} dimensions, not {dimensions}.");
        if (options.ModelId is not null && options.ModelId != ModelId)
            throw new NotSupportedException($"EmbeddingGenerationOptions.ModelId is not supported: this generator serves the model '{ModelId}' only.");
        if (options.AdditionalProperties is { Count: > 0 })
            throw new NotSupportedException($"EmbeddingGenerationOptions.AdditionalProperties are not supported (got {string.Join(", ", options.AdditionalProperties.Keys)}).");
    }

    // Batches of BatchSize lists, each queued on the host (where concurrent callers' lists share a pass).
    private async Task<GeneratedEmbeddings<Embedding<float>>> EmbedAsync(int[][] ids, CancellationToken cancellationToken)
    {
        var result = new GeneratedEmbeddings<Embedding<float>>(ids.Length);
        DateTimeOffset created = DateTimeOffset.UtcNow;
        for (int start = 0; start < ids.Length; start += BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int[][] batch = ids[start..Math.Min(ids.Length, start + BatchSize)];
            foreach (float[] vector in await Host.EmbedAsync(batch, Pooling, Normalize, cancellationToken).ConfigureAwait(false))
                result.Add(new Embedding<float>(vector) { ModelId = ModelId, CreatedAt = created });
        }
        int tokens = ids.Sum(row => row.Length);
        result.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
        return result;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
            return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata))
            return _metadata;
        if (serviceType == typeof(CausalLanguageModel))
            return Model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Disposes the host when the generator made it (and with it the model, when the generator owns that).</summary>
    public void Dispose()
    {
        if (_ownsHost)
            Host.Dispose();
    }
}
