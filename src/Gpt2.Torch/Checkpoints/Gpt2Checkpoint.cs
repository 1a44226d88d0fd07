using System.Text.RegularExpressions;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.IO;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// Loads and saves GPT-2 weights in the Hugging Face layout: a folder with <c>config.json</c> and
/// <c>model.safetensors</c>. Tensor names map onto <see cref="Gpt2Model"/> by name; the only conversion is the
/// transpose of Hugging Face's Conv1D weights, which store the input dimension first.
/// </summary>
public static partial class Gpt2Checkpoint
{
    /// <summary>The config file's name in a checkpoint folder.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file's name in a checkpoint folder.</summary>
    public const string WeightsFileName = "model.safetensors";

    // Causal-mask buffers that Hugging Face checkpoints carry; they hold no learned values.
    [GeneratedRegex(@"^h\.\d+\.attn\.(bias|masked_bias)$")]
    private static partial Regex MaskBufferName();

    /// <summary>Loads a checkpoint folder (config.json and model.safetensors).</summary>
    public static Gpt2Model Load(string folder, Device? device = null)
    {
        string configPath = System.IO.Path.Combine(folder, ConfigFileName);
        string weightsPath = System.IO.Path.Combine(folder, WeightsFileName);
        if (!File.Exists(configPath) || !File.Exists(weightsPath))
            throw new FileNotFoundException(
                $"{folder} is not a GPT-2 checkpoint folder: it needs {ConfigFileName} and {WeightsFileName}.");
        Gpt2Config config;
        try
        {
            config = Gpt2Config.Load(configPath);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            throw new CheckpointFormatException(configPath, $"not a valid GPT-2 config.json ({e.Message}).", e);
        }
        var model = new Gpt2Model(config, device);
        LoadWeights(model, weightsPath);
        return model;
    }

    /// <summary>
    /// Loads pretrained GPT-2 weights from a local checkpoint folder, or, when no such folder exists, downloads them from
    /// the Hugging Face Hub by model id (<c>gpt2</c>, <c>gpt2-medium</c>, <c>gpt2-large</c>, <c>gpt2-xl</c> or
    /// <c>owner/name</c>) into the cache first.
    /// </summary>
    public static async Task<Gpt2Model> LoadPretrainedAsync(string folderOrModelId, Device? device = null, HuggingFaceHub? hub = null,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string folder = Directory.Exists(folderOrModelId) ? folderOrModelId
            : await (hub ?? new HuggingFaceHub()).DownloadModelAsync(folderOrModelId, progress, cancellationToken).ConfigureAwait(false);
        return Load(folder, device);
    }

    /// <summary>
    /// Copies the weights of a Hugging Face GPT-2 safetensors file into <paramref name="model"/>. Accepts names with
    /// or without the <c>transformer.</c> prefix, skips the attention-mask buffers, and takes <c>lm_head.weight</c>
    /// only for an untied head. Every parameter must be present with the right shape, and nothing else may be.
    /// </summary>
    public static void LoadWeights(Gpt2Model model, string safetensorsPath)
    {
        using var file = SafetensorsFile.Open(safetensorsPath);
        Dictionary<string, Tensor> parameters = model.state_dict();
        var loaded = new HashSet<string>(StringComparer.Ordinal);
        var unexpected = new List<string>();

        foreach (SafetensorsTensorInfo info in file.Tensors.Values)
        {
            string name = info.Name.StartsWith("transformer.", StringComparison.Ordinal) ? info.Name["transformer.".Length..] : info.Name;
            if (MaskBufferName().IsMatch(name) || (name == "lm_head.weight" && model.Config.TieWordEmbeddings))
                continue;
            if (!parameters.TryGetValue(name, out Tensor? target))
            {
                unexpected.Add(info.Name);
                continue;
            }
            if (!loaded.Add(name))
                throw new CheckpointFormatException(safetensorsPath, $"tensor '{name}' appears both with and without the 'transformer.' prefix.");

            bool conv1D = IsConv1DWeight(name, info.Shape.Length);
            long[] expected = conv1D ? [target.shape[1], target.shape[0]] : target.shape;
            if (!info.Shape.SequenceEqual(expected))
                throw new CheckpointFormatException(safetensorsPath,
                    $"tensor '{info.Name}' has shape [{string.Join(", ", info.Shape)}] but the model expects [{string.Join(", ", expected)}]; " +
                    $"the checkpoint is of another size than the config ({Describe(model.Config)}). Load it with its own config.json.");

            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            Tensor value = file.ReadTensor(info.Name);
            target.copy_(conv1D ? value.t() : value);
        }

        if (unexpected.Count > 0)
            throw new CheckpointFormatException(safetensorsPath,
                $"tensors the model has no place for: {string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? ", ..." : "")}; " +
                $"the checkpoint is of another size or kind than the config ({Describe(model.Config)}).");
        string[] missing = [.. parameters.Keys.Where(name => !loaded.Contains(name))];
        if (missing.Length > 0)
            throw new CheckpointFormatException(safetensorsPath,
                $"missing tensors: {string.Join(", ", missing.Take(8))}{(missing.Length > 8 ? ", ..." : "")}; the file is incomplete or of another model.");
    }

    /// <summary>Saves <paramref name="model"/> as a Hugging Face GPT-2 folder (config, weights, tokenizer files).</summary>
    public static void Save(Gpt2Model model, string folder)
    {
        Directory.CreateDirectory(folder);
        var tensors = new List<(string, Tensor)>();
        using var scope = NewDisposeScope();
        foreach ((string name, Tensor value) in model.state_dict())
            tensors.Add((name, IsConv1DWeight(name, (int)value.dim()) ? value.t() : value));
        SafetensorsWriter.Write(System.IO.Path.Combine(folder, WeightsFileName), tensors,
            new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, ConfigFileName), model.Config.ToJson());
        Tokenization.Gpt2Tokenizer.WriteHuggingFaceFiles(folder);
    }

    // Hugging Face GPT-2 implements every linear layer inside the blocks as Conv1D, stored [in, out].
    private static bool IsConv1DWeight(string name, int dimensions) =>
        dimensions == 2 && name.StartsWith("h.", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal);

    private static string Describe(Gpt2Config config) =>
        $"{config.LayerCount} layers, {config.HeadCount} heads, embedding {config.EmbeddingSize}, vocab {config.VocabSize}, context {config.ContextLength}";
}
