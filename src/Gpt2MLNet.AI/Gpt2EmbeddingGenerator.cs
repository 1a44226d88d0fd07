using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI;

/// <summary>How <see cref="Gpt2EmbeddingGenerator"/> pools a text's final hidden states into one vector.</summary>
public enum EmbeddingPooling
{
    /// <summary>The mean of the final layer's hidden states over the text's tokens (padding left out). The default: every token counts.</summary>
    Mean,

    /// <summary>The final hidden state of the text's last token, which has attended to all the others (what GPT-2's classifier reads).</summary>
    LastToken,
}

/// <summary>
/// Text embeddings from a GPT-2 behind Microsoft.Extensions.AI's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>:
/// each text's final hidden states (after the last LayerNorm) pooled by <see cref="Pooling"/>, optionally scaled to unit
/// length, computed for several texts at once in left-padded batches.
/// </summary>
/// <remarks>
/// <para>A text longer than the context keeps its first context-length tokens. The vectors have
/// <see cref="Gpt2Config.EmbeddingSize"/> dimensions; <see cref="EmbeddingGenerationOptions.Dimensions"/> asking for
/// another size, and a <see cref="EmbeddingGenerationOptions.ModelId"/> other than this generator's, are refused with
/// <see cref="NotSupportedException"/>.</para>
/// <para>Calls are serialized (one batch at a time). A model shared with a <see cref="Gpt2ChatClient"/> must not be used
/// by both at the same time: give each its own model.</para>
/// </remarks>
public sealed class Gpt2EmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly bool _ownsModel;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>An embedding generator over <paramref name="model"/>.</summary>
    /// <param name="model">The model; it is put in evaluation mode while embedding.</param>
    /// <param name="pooling">How token states become one vector.</param>
    /// <param name="normalize">Whether vectors are scaled to unit L2 length (then a dot product is the cosine similarity).</param>
    /// <param name="modelId">The model id reported; "gpt2" when null.</param>
    /// <param name="batchSize">Texts embedded together in one forward pass.</param>
    /// <param name="ownsModel">Whether disposing the generator disposes the model.</param>
    public Gpt2EmbeddingGenerator(Gpt2Model model, EmbeddingPooling pooling = EmbeddingPooling.Mean, bool normalize = false, string? modelId = null,
        int batchSize = 16, bool ownsModel = false)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        OptionChecks.Defined(pooling, nameof(pooling));
        OptionChecks.AtLeast(batchSize, 1, nameof(batchSize), "16");
        Pooling = pooling;
        Normalize = normalize;
        BatchSize = batchSize;
        ModelId = string.IsNullOrWhiteSpace(modelId) ? "gpt2" : modelId;
        _ownsModel = ownsModel;
        _metadata = new EmbeddingGeneratorMetadata(Gpt2ChatClient.ProviderName, providerUri: null, ModelId, model.Config.EmbeddingSize);
    }

    /// <summary>An embedding generator over the model of <paramref name="source"/> (preset, Hugging Face id or folder), which it owns (a model in memory stays its owner's).</summary>
    public static Gpt2EmbeddingGenerator Create(Gpt2ModelSource source, EmbeddingPooling pooling = EmbeddingPooling.Mean, bool normalize = false,
        Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new Gpt2EmbeddingGenerator(source.Load(device), pooling, normalize, source.NameOrPath, ownsModel: !source.IsInMemory);
    }

    /// <summary>The model whose hidden states are pooled.</summary>
    public Gpt2Model Model { get; }

    /// <summary>How token states become one vector.</summary>
    public EmbeddingPooling Pooling { get; }

    /// <summary>Whether vectors have unit L2 length.</summary>
    public bool Normalize { get; }

    /// <summary>Texts embedded together in one forward pass.</summary>
    public int BatchSize { get; }

    /// <summary>The model id reported.</summary>
    public string ModelId { get; }

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options is not null)
        {
            if (options.Dimensions is int dimensions && dimensions != Model.Config.EmbeddingSize)
                throw new NotSupportedException(
                    $"EmbeddingGenerationOptions.Dimensions is not supported: this model's embeddings have {Model.Config.EmbeddingSize} dimensions, not {dimensions}.");
            if (options.ModelId is not null && options.ModelId != ModelId)
                throw new NotSupportedException($"EmbeddingGenerationOptions.ModelId is not supported: this generator serves the model '{ModelId}' only.");
            if (options.AdditionalProperties is { Count: > 0 })
                throw new NotSupportedException($"EmbeddingGenerationOptions.AdditionalProperties are not supported (got {string.Join(", ", options.AdditionalProperties.Keys)}).");
        }
        string[] texts = [.. values];
        int[][] ids = new int[texts.Length][];
        for (int i = 0; i < texts.Length; i++)
        {
            if (string.IsNullOrEmpty(texts[i]))
                throw new ArgumentException($"Text {i} is empty; an embedding needs at least one token.", nameof(values));
            int[] all = Gpt2Tokenizer.Default.Encode(texts[i]);
            ids[i] = all.Length <= Model.Config.ContextLength ? all : all[..Model.Config.ContextLength];
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var result = new GeneratedEmbeddings<Embedding<float>>(texts.Length);
            DateTimeOffset created = DateTimeOffset.UtcNow;
            for (int start = 0; start < ids.Length; start += BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int[][] batch = ids[start..Math.Min(ids.Length, start + BatchSize)];
                foreach (float[] vector in await Task.Run(() => Embed(batch), cancellationToken).ConfigureAwait(false))
                    result.Add(new Embedding<float>(vector) { ModelId = ModelId, CreatedAt = created });
            }
            int tokens = ids.Sum(row => row.Length);
            result.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
            return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata))
            return _metadata;
        if (serviceType == typeof(Gpt2Model))
            return Model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Disposes the model when the generator owns it.</summary>
    public void Dispose()
    {
        if (_ownsModel)
            Model.Dispose();
        _gate.Dispose();
    }

    // The pooled vectors of one left-padded batch.
    private float[][] Embed(int[][] rows)
    {
        bool wasTraining = Model.training;
        Model.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            int width = rows.Max(row => row.Length);
            var idData = new long[rows.Length * width];
            var realData = new bool[rows.Length * width];
            for (int r = 0; r < rows.Length; r++)
            {
                int offset = r * width + width - rows[r].Length;
                for (int t = 0; t < rows[r].Length; t++)
                {
                    idData[offset + t] = rows[r][t];
                    realData[offset + t] = true;
                }
            }
            Device device = Model.Device;
            Tensor ids = tensor(idData, [rows.Length, width], int64, device);
            Tensor real = tensor(realData, [rows.Length, width], @bool, device);
            bool padded = rows.Any(row => row.Length < width);
            Tensor hidden = Model.ComputeHiddenStates(ids, attentionMask: padded ? real : null);   // (B, T, E)
            Tensor pooled = Pooling == EmbeddingPooling.LastToken
                ? hidden.select(1, width - 1)                                                      // left padding: every row ends at T - 1
                : (hidden * real.unsqueeze(-1)).sum(1) / real.sum(1, keepdim: true);               // (B, E)
            if (Normalize)
                pooled = nn.functional.normalize(pooled, p: 2, dim: -1);
            float[] flat = pooled.to(float32).cpu().data<float>().ToArray();
            int size = (int)pooled.shape[1];
            return [.. Enumerable.Range(0, rows.Length).Select(r => flat[(r * size)..((r + 1) * size)])];
        }
        finally
        {
            Model.train(wasTraining);
        }
    }
}
