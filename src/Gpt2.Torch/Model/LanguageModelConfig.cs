using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Gpt2.Torch.Model;

/// <summary>
/// The shape of a decoder-only language model of any family the product computes (GPT-2, Llama, Qwen2, Qwen3): what
/// the model host, the training loop, the classifier and the exporters need to know of a model without knowing its family.
/// Each family's record (<see cref="Gpt2Config"/>, <see cref="LlamaConfig"/>) reads and writes its Hugging Face
/// <c>config.json</c>; <see cref="FromJson"/> picks the family by <c>model_type</c>.
/// </summary>
public abstract record LanguageModelConfig
{
    /// <summary>Hugging Face's <c>model_type</c> of the family (<c>gpt2</c>, <c>llama</c>, <c>qwen2</c>, <c>qwen3</c>).</summary>
    public abstract string ModelType { get; init; }

    /// <summary>Number of token ids the embedding and the output head cover.</summary>
    public abstract int VocabSize { get; init; }

    /// <summary>Longest sequence the model attends over (<c>n_positions</c>, <c>max_position_embeddings</c>).</summary>
    public abstract int ContextLength { get; init; }

    /// <summary>Width of the residual stream (<c>n_embd</c>, <c>hidden_size</c>).</summary>
    public abstract int EmbeddingSize { get; init; }

    /// <summary>Query heads per attention layer (<c>n_head</c>, <c>num_attention_heads</c>).</summary>
    public abstract int HeadCount { get; init; }

    /// <summary>Transformer blocks (<c>n_layer</c>, <c>num_hidden_layers</c>).</summary>
    public abstract int LayerCount { get; init; }

    /// <summary>Whether the output head shares its weight with the token embedding (<c>tie_word_embeddings</c>).</summary>
    public abstract bool TieWordEmbeddings { get; init; }

    /// <summary>
    /// The fields of the Hugging Face <c>config.json</c> that the record does not model and that do not change the
    /// computation (token ids, <c>architectures</c>, <c>initializer_range</c>, ...), as one compact JSON object with sorted
    /// keys, or null for none: kept so that loading and saving a checkpoint keeps them.
    /// </summary>
    public abstract string? ExtraFieldsJson { get; init; }

    /// <summary>
    /// Key/value heads per attention layer: <see cref="HeadCount"/> for multi-head attention, fewer for grouped-query
    /// attention, 1 for multi-query attention. The key/value cache stores these heads, not the query heads.
    /// </summary>
    public abstract int KeyValueHeadCount { get; }

    /// <summary>Width of one attention head (Hugging Face <c>head_dim</c>).</summary>
    public abstract int HeadSize { get; }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when the settings cannot form a model, and <see cref="NotSupportedException"/>
    /// when they ask for a computation the family's model does not do, naming the field.
    /// </summary>
    public abstract void Validate();

    /// <summary>Writes a Hugging Face <c>config.json</c> for the family (keys sorted, as Hugging Face writes them).</summary>
    public abstract string ToJson();

    /// <summary>A randomly initialised model of this family and shape on <paramref name="device"/>; the caller owns it.</summary>
    /// <param name="device">Where the parameters live; <see cref="TorchDevices.Default"/> when null.</param>
    public abstract CausalLanguageModel CreateModel(Device? device = null);

    /// <summary>The same model with every dropout rate 0 (what benchmarks and deterministic runs train).</summary>
    internal abstract LanguageModelConfig WithoutDropout();

    /// <summary>Loads the weights of a checkpoint folder of this family (whose config.json this config was read from) into a new model.</summary>
    internal abstract CausalLanguageModel LoadCheckpoint(string folder, Device? device);

    /// <summary>
    /// Loads a Hugging Face checkpoint folder of any supported family: its <c>config.json</c> picks the family, which loads
    /// the weights.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder has no config.json.</exception>
    /// <exception cref="Checkpoints.CheckpointFormatException">The config or the weights are not a valid checkpoint of a supported family.</exception>
    internal static CausalLanguageModel LoadCheckpointFolder(string folder, Device? device)
    {
        string configPath = Path.Combine(folder, Checkpoints.Gpt2Checkpoint.ConfigFileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException(
                $"{folder} is not a checkpoint folder: it has no {Checkpoints.Gpt2Checkpoint.ConfigFileName}. Give a Hugging Face model folder (config.json with the weights) or a model id.", configPath);
        LanguageModelConfig config;
        try
        {
            config = Load(configPath);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new Checkpoints.CheckpointFormatException(configPath, $"not a valid config.json ({e.Message}).", e);
        }
        catch (NotSupportedException e)
        {
            throw new Checkpoints.CheckpointFormatException(configPath, $"a model this library cannot compute exactly, so it is not loaded ({e.Message}).", e);
        }
        return config.LoadCheckpoint(folder, device);
    }

    /// <summary>How the family is written as ONNX, or null when it has no ONNX export yet (the exporters then refuse it by its model type).</summary>
    internal virtual Onnx.OnnxFamilyExport? OnnxExport => null;

    /// <summary>The <c>model_type</c> values with an ONNX export.</summary>
    internal static IReadOnlyList<string> OnnxExportableModelTypes { get; } = ["gpt2", .. LlamaConfig.ModelTypes];

    /// <summary>
    /// The tokenizer every model of the family uses when no other is given (GPT-2's for <see cref="Gpt2Config"/>), or null
    /// when the tokenizer comes with the weights (<c>tokenizer.json</c>) and must be given.
    /// </summary>
    public virtual Tokenization.LanguageModelTokenizer? BuiltInTokenizer => null;

    /// <summary>
    /// Throws when a token id is outside the vocabulary [0, <see cref="VocabSize"/>). Models do not check the ids they are
    /// given (reading them back would synchronise with the device on every forward pass), so every place where ids enter
    /// (the generator's prompts, the batches, the classifier's rows) calls this on the host.
    /// </summary>
    internal void CheckTokenIds(ReadOnlySpan<int> ids, string parameterName, string? where = null) =>
        TokenIds.Check(ids, VocabSize, parameterName, where);

    /// <summary>The <c>model_type</c> values <see cref="FromJson"/> reads.</summary>
    public static IReadOnlyList<string> ModelTypes { get; } = ["gpt2", .. LlamaConfig.ModelTypes];

    /// <summary>
    /// Reads a Hugging Face <c>config.json</c> of any supported family, chosen by its <c>model_type</c> (a config without
    /// one is read as GPT-2, as the book's and older checkpoints are).
    /// </summary>
    /// <exception cref="InvalidDataException">The text is not a JSON object, or a field has the wrong type.</exception>
    /// <exception cref="NotSupportedException">The <c>model_type</c> is not one of <see cref="ModelTypes"/>, or the config asks for a computation the family's model does not do; the message names the field.</exception>
    public static LanguageModelConfig FromJson(string json)
    {
        JsonObject root = JsonNode.Parse(json) as JsonObject
            ?? throw new InvalidDataException("config.json must hold a JSON object.");
        string? modelType = root["model_type"] is JsonValue value && value.TryGetValue(out string? type) ? type
            : root["model_type"] is null ? null
            : throw new InvalidDataException($"config.json field 'model_type' must be a string, but is {root["model_type"]!.ToJsonString()}.");
        return modelType switch
        {
            null or "gpt2" => Gpt2Config.FromJson(json),
            _ when LlamaConfig.ModelTypes.Contains(modelType) => LlamaConfig.FromJson(json),
            _ => throw new NotSupportedException(
                $"config.json field 'model_type' is '{modelType}', an architecture this library does not compute; it reads {string.Join(", ", ModelTypes)}."),
        };
    }

    /// <summary>The preset names <see cref="FromPreset"/> accepts, of every family.</summary>
    public static IReadOnlyList<string> PresetNames => [.. Gpt2Config.PresetNames, .. LlamaConfig.PresetNames];

    /// <summary>A published size of any family by name (<see cref="PresetNames"/>: <see cref="Gpt2Config.FromPreset"/>'s and <see cref="LlamaConfig.FromPreset"/>'s).</summary>
    /// <exception cref="ArgumentException">No family has a preset of that name.</exception>
    public static LanguageModelConfig FromPreset(string name) =>
        LlamaConfig.TryFromPreset(name, out LlamaConfig? llama) ? llama : Gpt2Config.FromPreset(name);

    /// <summary>Reads <c>config.json</c> from a file; see <see cref="FromJson"/>.</summary>
    public static LanguageModelConfig Load(string path) => FromJson(File.ReadAllText(path));
}
