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
        string picklePath = System.IO.Path.Combine(folder, "pytorch_model.bin");
        if (!File.Exists(weightsPath) && File.Exists(picklePath))
            PickleCheckpoint.ThrowIfPickle(picklePath);
        if (!File.Exists(configPath) || !File.Exists(weightsPath))
            throw new FileNotFoundException(
                $"{folder} is not a GPT-2 checkpoint folder: it needs {ConfigFileName} and {WeightsFileName}.");
        Gpt2Config config;
        try
        {
            config = Gpt2Config.Load(configPath);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new CheckpointFormatException(configPath, $"not a valid GPT-2 config.json ({e.Message}).", e);
        }
        catch (NotSupportedException e)
        {
            throw new CheckpointFormatException(configPath, $"a GPT-2 this library cannot compute exactly, so it is not loaded ({e.Message}).", e);
        }
        using var file = SafetensorsFile.Open(weightsPath);
        // Half precision is the smallest a GPT-2 checkpoint stores its weights in.
        CheckpointWeights.EnsureConfigFits(config, file.Tensors.Values.Sum(t => t.ByteCount), bytesPerParameter: 2, configPath, weightsPath);
        var model = new Gpt2Model(config, device);
        try
        {
            LoadWeights(model, file);
        }
        catch
        {
            model.Dispose();
            throw;
        }
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
        LoadWeights(model, file);
    }

    private static void LoadWeights(Gpt2Model model, SafetensorsFile file)
    {
        static string WithoutPrefix(string name) => name.StartsWith("transformer.", StringComparison.Ordinal) ? name["transformer.".Length..] : name;
        var tensors = file.Tensors.Values
            .Where(info => !MaskBufferName().IsMatch(WithoutPrefix(info.Name)) && !(WithoutPrefix(info.Name) == "lm_head.weight" && model.Config.TieWordEmbeddings))
            .Select(info => info.DType is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64 ? (info.Name, (string?)WithoutPrefix(info.Name), info.Shape)
                : throw new CheckpointFormatException(file.Path, $"tensor '{info.Name}' holds {info.DType}; GPT-2 weights are floating point."));
        CheckpointWeights.Copy(model, file.Path, tensors,
            (name, shape) => IsConv1DWeight(name, shape.Length) ? [shape[1], shape[0]] : shape,
            (fileName, name) => file.ReadTensor(fileName) is var value && IsConv1DWeight(name, (int)value.dim()) ? value.t() : value);
    }

    /// <summary>Saves <paramref name="model"/> as a Hugging Face GPT-2 folder (config, weights, tokenizer files).</summary>
    public static void Save(Gpt2Model model, string folder)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.LoRA is not null)
            throw new ArgumentException("The model has LoRA adapters that are not part of its weights; call model.MergeLoRA() before saving it as a GPT-2 checkpoint.", nameof(model));
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
}
