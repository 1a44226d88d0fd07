using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

// CONTRACT SKELETON: the family-model helper fills in FromJson, ToJson, Validate, the presets and the remaining fields.

/// <summary>
/// The shape of a Llama-architecture model: Llama 3.x and SmolLM2 (<c>model_type</c> <c>llama</c>), Qwen2 and Qwen2.5
/// (<c>qwen2</c>: biases on the query/key/value projections) and Qwen3 (<c>qwen3</c>: per-head RMSNorm on queries and
/// keys, an explicit head width). Reads and writes Hugging Face <c>config.json</c> files.
/// </summary>
public sealed record LlamaConfig : LanguageModelConfig
{
    /// <summary>The <c>model_type</c> values this record reads.</summary>
    public static new IReadOnlyList<string> ModelTypes { get; } = ["llama", "qwen2", "qwen3"];

    /// <summary><c>llama</c>, <c>qwen2</c> or <c>qwen3</c>.</summary>
    public override string ModelType { get; init; } = "llama";

    /// <inheritdoc />
    public override int VocabSize { get; init; } = 32000;

    /// <summary>Longest sequence (<c>max_position_embeddings</c>).</summary>
    public override int ContextLength { get; init; } = 2048;

    /// <summary>Width of the residual stream (<c>hidden_size</c>).</summary>
    public override int EmbeddingSize { get; init; } = 4096;

    /// <summary>Query heads (<c>num_attention_heads</c>).</summary>
    public override int HeadCount { get; init; } = 32;

    /// <summary>Blocks (<c>num_hidden_layers</c>).</summary>
    public override int LayerCount { get; init; } = 32;

    /// <inheritdoc />
    public override bool TieWordEmbeddings { get; init; }

    /// <inheritdoc />
    public override string? ExtraFieldsJson { get; init; }

    /// <summary>Key/value heads (<c>num_key_value_heads</c>); <see cref="LanguageModelConfig.HeadCount"/> when null.</summary>
    public int? KeyValueHeads { get; init; }

    /// <summary>Width of one head (<c>head_dim</c>); hidden size / heads when null.</summary>
    public int? HeadDimension { get; init; }

    /// <inheritdoc />
    public override int KeyValueHeadCount => KeyValueHeads ?? HeadCount;

    /// <inheritdoc />
    public override int HeadSize => HeadDimension ?? EmbeddingSize / HeadCount;

    /// <inheritdoc />
    public override void Validate() => throw new NotImplementedException();

    /// <inheritdoc />
    public override string ToJson() => throw new NotImplementedException();

    /// <inheritdoc />
    public override CausalLanguageModel CreateModel(Device? device = null) => throw new NotImplementedException();

    internal override CausalLanguageModel LoadCheckpoint(string folder, Device? device) => throw new NotImplementedException();

    /// <summary>Reads a Hugging Face <c>config.json</c> of model type <c>llama</c>, <c>qwen2</c> or <c>qwen3</c>.</summary>
    public static new LlamaConfig FromJson(string json) => throw new NotImplementedException();
}
