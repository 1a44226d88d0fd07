using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gpt2.Torch.IO;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// Loads and saves a model of any family in Hugging Face's layout: a folder with <c>config.json</c> (its
/// <c>model_type</c> picks the family) and either <c>model.safetensors</c> or <c>model.safetensors.index.json</c> with the
/// shards it lists. GPT-2 goes through <see cref="Gpt2Checkpoint"/>; Llama, Qwen2 and Qwen3 map onto
/// <see cref="LlamaModel"/> by name.
/// </summary>
/// <remarks>
/// Loading streams: one shard is open (memory-mapped) at a time and its tensors are copied into the model one by one, so
/// the peak is about one float32 copy of the weights and one shard (a bfloat16 model is converted after loading).
/// Weights stored in bfloat16, float16 or float32 are widened to float32 exactly. A tied model's file may carry
/// <c>lm_head.weight</c> only as a copy of <c>model.embed_tokens.weight</c>: a different head is refused rather than
/// dropped silently as Hugging Face drops it, since the config and the file then disagree about the model.
/// </remarks>
public static partial class HuggingFaceCheckpoint
{
    /// <summary>The config file's name in a checkpoint folder.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file's name when the weights are in one file.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The index's name when the weights are split into shards.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>The largest shard <see cref="Save"/> writes by default (2 GB); a model with more bytes is split.</summary>
    public const long DefaultMaxShardBytes = 2_000_000_000;

    // Buffers older checkpoints carry that hold no learned values: the rotary inverse frequencies.
    [GeneratedRegex(@"^model\.(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq$")]
    private static partial Regex RotaryBufferName();

    /// <summary>Loads a checkpoint folder of any supported family.</summary>
    /// <param name="folder">Holds <c>config.json</c> and <c>model.safetensors</c>, or the index and its shards.</param>
    /// <param name="device">Where the parameters live; <see cref="TorchDevices.Default"/> when null.</param>
    /// <param name="precision">The model's precision; float32 when null.</param>
    /// <exception cref="FileNotFoundException">The folder lacks the config or the weights.</exception>
    /// <exception cref="CheckpointFormatException">
    /// The config is invalid or asks for a computation the family's model does not do (the message names the field), or
    /// the weights do not match it: a tensor missing, of the wrong shape, unknown, or not floating point.
    /// </exception>
    public static CausalLanguageModel Load(string folder, Device? device = null, Precision? precision = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        // config.json picks the family (LlamaConfig.LoadCheckpoint comes back here, Gpt2Config's goes to Gpt2Checkpoint).
        CausalLanguageModel model = LanguageModelConfig.LoadCheckpointFolder(folder, device);
        try
        {
            // Exact for weights stored in bfloat16: widened to float32 on loading, they round back to the same bits.
            return precision is Precision converted ? model.ToPrecision(converted) : model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads a Llama-family folder whose config.json gave <paramref name="config"/>, in float32.</summary>
    internal static LlamaModel LoadLlama(string folder, LlamaConfig config, Device? device)
    {
        IReadOnlyList<string> shards = CheckedShards(folder, config);
        // Uninitialised: every weight is about to be copied in (and the copy checks that every one is).
        var model = new LlamaModel(config, device, initialize: false);
        try
        {
            CopyWeights(model, folder, shards);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies the weights of the checkpoint folder <paramref name="folder"/> (one file or shards) into
    /// <paramref name="model"/>, converted to its precision; the folder's weights must fit the model's config exactly.
    /// </summary>
    internal static void LoadWeights(LlamaModel model, string folder) =>
        CopyWeights(model, folder, CheckedShards(folder, (LlamaConfig)model.Config));

    // Streams the shards one at a time through CheckpointWeights.Copy, which checks names and shapes.
    private static void CopyWeights(LlamaModel model, string folder, IReadOnlyList<string> shards)
    {
        var config = (LlamaConfig)model.Config;
        SafetensorsFile? open = null;
        string? tiedHeadShard = null;
        IEnumerable<(string FileName, string? ParameterName, long[] Shape)> Tensors()
        {
            foreach (string shard in shards)
            {
                open = SafetensorsFile.Open(shard);
                try
                {
                    foreach (SafetensorsTensorInfo info in open.Tensors.Values)
                    {
                        if (RotaryBufferName().IsMatch(info.Name))
                            continue;
                        if (info.Name == "lm_head.weight" && config.TieWordEmbeddings)
                        {
                            tiedHeadShard = shard;
                            continue;
                        }
                        if (info.DType is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
                            throw new CheckpointFormatException(shard, $"tensor '{info.Name}' holds {info.DType}; the model's weights are floating point.");
                        yield return (info.Name, info.Name, info.Shape);
                    }
                }
                finally
                {
                    open.Dispose();
                    open = null;
                }
            }
        }
        CheckpointWeights.Copy(model, folder, Tensors(), (_, shape) => shape, (fileName, _) => open!.ReadTensor(fileName));
        if (tiedHeadShard is not null)
            CheckTiedHead(model, tiedHeadShard);
    }

    // The weight files in loading order, after checking that the index and the shards agree and that the config cannot
    // ask for more parameters than the files hold (at 2 bytes each, the smallest precision stored).
    private static IReadOnlyList<string> CheckedShards(string folder, LlamaConfig config)
    {
        string indexPath = Path.Combine(folder, IndexFileName);
        string weightsPath = Path.Combine(folder, WeightsFileName);
        Dictionary<string, string>? weightMap = null;
        List<string> shards;
        if (File.Exists(indexPath))
        {
            weightMap = ReadWeightMap(indexPath);
            shards = [.. weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(file => Path.Combine(folder, file))];
        }
        else if (File.Exists(weightsPath))
            shards = [weightsPath];
        else
        {
            string picklePath = Path.Combine(folder, "pytorch_model.bin");
            if (File.Exists(picklePath))
                PickleCheckpoint.ThrowIfPickle(picklePath);
            throw new FileNotFoundException($"{folder} holds no weights: it needs {WeightsFileName}, or {IndexFileName} and the shards it lists.", weightsPath);
        }

        long bytes = 0;
        foreach (string shard in shards)
        {
            if (!File.Exists(shard))
                throw new CheckpointFormatException(indexPath, $"it lists the shard {Path.GetFileName(shard)}, which is not in {folder}.");
            using var file = SafetensorsFile.Open(shard);
            bytes += file.Tensors.Values.Sum(t => t.ByteCount);
            if (weightMap is null)
                continue;
            string name = Path.GetFileName(shard);
            foreach (string tensor in file.Tensors.Keys)
            {
                if (!weightMap.TryGetValue(tensor, out string? listed) || listed != name)
                    throw new CheckpointFormatException(shard,
                        $"it holds tensor '{tensor}', which {IndexFileName} {(listed is null ? "does not list" : $"places in {listed}")}; the index does not belong to these shards.");
            }
            foreach ((string tensor, string listed) in weightMap)
            {
                if (listed == name && !file.Tensors.ContainsKey(tensor))
                    throw new CheckpointFormatException(shard, $"{IndexFileName} places tensor '{tensor}' in this shard, which lacks it; the shard is incomplete or of another model.");
            }
        }
        if (config.ParameterCount * 2 > bytes)
            throw new CheckpointFormatException(Path.Combine(folder, ConfigFileName),
                $"the config describes a model of {config.ParameterCount:N0} parameters ({CheckpointWeights.Describe(config)}), more than the {bytes:N0} bytes of its weights hold; " +
                "the config belongs to another checkpoint.");
        return shards;
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonObject? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(indexPath)) as JsonObject;
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(indexPath, $"not valid JSON ({e.Message}).", e);
        }
        if (root?["weight_map"] is not JsonObject weightMap)
            throw new CheckpointFormatException(indexPath, "it has no 'weight_map' object naming each tensor's shard.");
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string tensor, JsonNode? value) in weightMap)
        {
            if (value is not JsonValue fileValue || !fileValue.TryGetValue(out string? file) || file.Length == 0
                || Path.GetFileName(file) != file || file is "." or ".." || !file.EndsWith(".safetensors", StringComparison.Ordinal))
                throw new CheckpointFormatException(indexPath,
                    $"'weight_map' places tensor '{tensor}' in {value?.ToJsonString() ?? "null"}; shards are .safetensors files beside the index.");
            map[tensor] = file;
        }
        if (map.Count == 0)
            throw new CheckpointFormatException(indexPath, "its 'weight_map' lists no tensors.");
        return map;
    }

    // A tied model's file may repeat the head as lm_head.weight; it must then be the token embedding.
    private static void CheckTiedHead(LlamaModel model, string shard)
    {
        using var file = SafetensorsFile.Open(shard);
        using var scope = NewDisposeScope();
        Tensor embedding = model.TokenEmbedding;
        Tensor head = file.ReadTensor("lm_head.weight");
        if (!head.shape.SequenceEqual(embedding.shape) || !head.to(embedding.dtype, embedding.device).eq(embedding).all().item<bool>())
            throw new CheckpointFormatException(shard,
                "config.json ties the output head to the token embedding (tie_word_embeddings true), but the file's lm_head.weight differs from model.embed_tokens.weight; " +
                "set tie_word_embeddings to false in config.json to use the file's separate head.");
    }

    /// <summary>
    /// Saves <paramref name="model"/> as a Hugging Face checkpoint folder: <c>config.json</c> and the weights in the
    /// model's precision, in <c>model.safetensors</c>, or, when they exceed <paramref name="maxShardBytes"/>, in shards
    /// <c>model-00001-of-0000N.safetensors</c> with <c>model.safetensors.index.json</c>. Each file is written atomically;
    /// weight files of the other layout left by an earlier save are removed. A GPT-2 is saved by <see cref="Gpt2Checkpoint.Save"/>
    /// (one file, with GPT-2's tokenizer files).
    /// </summary>
    /// <exception cref="ArgumentException">The model has LoRA adapters that are not merged, or <paramref name="maxShardBytes"/> is not positive.</exception>
    public static void Save(CausalLanguageModel model, string folder, long maxShardBytes = DefaultMaxShardBytes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(folder);
        if (model.LoRA is not null)
            throw new ArgumentException("The model has LoRA adapters that are not part of its weights; call model.MergeLoRA() before saving it as a checkpoint.", nameof(model));
        if (maxShardBytes <= 0)
            throw new ArgumentException($"maxShardBytes must be positive, but is {maxShardBytes}.", nameof(maxShardBytes));
        model.SaveCheckpoint(folder, maxShardBytes);
    }

    /// <summary>Writes a Llama-family model in Hugging Face's layout (<see cref="Save"/> checks the arguments).</summary>
    internal static void SaveLlama(LlamaModel model, string folder, long maxShardBytes)
    {
        if (model.LoRA is not null)
            throw new ArgumentException("The model has LoRA adapters that are not part of its weights; call model.MergeLoRA() before saving it as a checkpoint.", nameof(model));
        Directory.CreateDirectory(folder);
        string indexPath = Path.Combine(folder, IndexFileName);
        string weightsPath = Path.Combine(folder, WeightsFileName);
        HashSet<string> earlierShards = File.Exists(indexPath) ? [.. ReadWeightMapLeniently(indexPath)] : [];

        var shards = new List<List<(string Name, Tensor Tensor)>> { new() };
        long shardBytes = 0, totalBytes = 0;
        foreach ((string name, Tensor tensor) in model.state_dict())
        {
            long bytes = tensor.numel() * tensor.ElementSize;
            if (shardBytes > 0 && shardBytes + bytes > maxShardBytes)
            {
                shards.Add([]);
                shardBytes = 0;
            }
            shards[^1].Add((name, tensor));
            shardBytes += bytes;
            totalBytes += bytes;
        }
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        if (shards.Count == 1)
        {
            SafetensorsWriter.Write(weightsPath, shards[0], metadata);
            AtomicFile.WriteAllText(Path.Combine(folder, ConfigFileName), model.Config.ToJson());
            File.Delete(indexPath);
            foreach (string stale in earlierShards.Where(file => file != WeightsFileName))
                File.Delete(Path.Combine(folder, stale));
            return;
        }

        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var written = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafetensorsWriter.Write(Path.Combine(folder, file), shards[i], metadata);
            foreach ((string name, Tensor _) in shards[i])
                weightMap[name] = file;
            written.Add(file);
        }
        AtomicFile.WriteAllText(Path.Combine(folder, ConfigFileName), model.Config.ToJson());
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = totalBytes },
            ["weight_map"] = new JsonObject(weightMap.Select(entry => KeyValuePair.Create(entry.Key, (JsonNode?)entry.Value))),
        };
        // The index goes last: until it is in place, a reader finds the earlier layout complete.
        AtomicFile.WriteAllText(indexPath, index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Delete(weightsPath);
        foreach (string stale in earlierShards.Where(file => !written.Contains(file)))
            File.Delete(Path.Combine(folder, stale));
    }

    // The shard files an earlier save's index names (only plain file names beside it), for removal.
    private static IEnumerable<string> ReadWeightMapLeniently(string indexPath)
    {
        try
        {
            return ReadWeightMap(indexPath).Values;
        }
        catch (CheckpointFormatException)
        {
            return [];
        }
    }
}
