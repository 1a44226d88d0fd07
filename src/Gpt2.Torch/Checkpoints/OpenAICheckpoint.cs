using System.Text.Json;
using System.Text.RegularExpressions;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// Loads OpenAI's original GPT-2 releases, the folders the book downloads: <c>hparams.json</c>, a <c>checkpoint</c>
/// file naming the TensorFlow checkpoint, and the checkpoint itself (<c>model.ckpt.index</c>,
/// <c>model.ckpt.data-00000-of-00001</c>), read without TensorFlow. Variables map onto <see cref="Gpt2Model"/> by
/// name (<c>model/h0/attn/c_attn/w</c> is <c>h.0.attn.c_attn.weight</c>); the linear layers' weights, stored as
/// [1, in, out] convolutions, are transposed once at load.
/// </summary>
public static partial class OpenAICheckpoint
{
    /// <summary>The hyperparameter file's name in a release folder.</summary>
    public const string HparamsFileName = "hparams.json";

    /// <summary>The checkpoint prefix used when a folder has no <c>checkpoint</c> file.</summary>
    public const string DefaultCheckpointName = "model.ckpt";

    [GeneratedRegex(@"^model/(?:(?<name>wte|wpe)|(?<name>ln_f)/(?<kind>[gb])|h(?<layer>0|[1-9]\d{0,5})/(?:(?<name>ln_[12])/(?<kind>[gb])|(?<name>attn/c_attn|attn/c_proj|mlp/c_fc|mlp/c_proj)/(?<kind>[wb])))$")]
    private static partial Regex VariableName();

    [GeneratedRegex(@"^model_checkpoint_path:\s*""(?<path>[^""]+)""", RegexOptions.Multiline)]
    private static partial Regex CheckpointPathLine();

    /// <summary>Loads a release folder (hparams.json and the TensorFlow checkpoint).</summary>
    public static Gpt2Model Load(string folder, Device? device = null)
    {
        string hparamsPath = Path.Combine(folder, HparamsFileName);
        if (!File.Exists(hparamsPath))
            throw new FileNotFoundException($"{folder} is not an OpenAI GPT-2 folder: it has no {HparamsFileName}.", hparamsPath);
        Gpt2Config config = ReadConfig(hparamsPath);
        using TensorBundle bundle = TensorBundle.Open(CheckpointPrefix(folder));
        CheckpointWeights.EnsureConfigFits(config, bundle.DataBytes, sizeof(float), hparamsPath, bundle.Prefix + ".data");
        var model = new Gpt2Model(config, device);
        try
        {
            LoadWeights(model, bundle);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>
    /// Loads a release from a local folder, or, when no such folder exists, downloads it by size (124M, 355M, 774M,
    /// 1558M) from OpenAI's public storage into the cache first.
    /// </summary>
    public static async Task<Gpt2Model> LoadPretrainedAsync(string folderOrSize, Device? device = null, OpenAIPublicStorage? storage = null,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string folder = Directory.Exists(folderOrSize) ? folderOrSize
            : await (storage ?? new OpenAIPublicStorage()).DownloadModelAsync(folderOrSize, progress, cancellationToken).ConfigureAwait(false);
        return Load(folder, device);
    }

    /// <summary>Reads <c>hparams.json</c> (<c>n_vocab</c>, <c>n_ctx</c>, <c>n_embd</c>, <c>n_head</c>, <c>n_layer</c>) as a config.</summary>
    internal static Gpt2Config ReadConfig(string hparamsPath)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(hparamsPath));
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new FormatException("it must hold a JSON object.");
            int Required(string key) => root.TryGetProperty(key, out JsonElement value) && value.TryGetInt32(out int number) ? number
                : throw new FormatException($"'{key}' is missing or not an integer.");
            var config = new Gpt2Config
            {
                VocabSize = Required("n_vocab"),
                ContextLength = Required("n_ctx"),
                EmbeddingSize = Required("n_embd"),
                HeadCount = Required("n_head"),
                LayerCount = Required("n_layer"),
            };
            config.Validate();
            return config;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or ArgumentException)
        {
            throw new CheckpointFormatException(hparamsPath, $"not a valid GPT-2 hparams.json ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Copies a TensorFlow checkpoint's weights into <paramref name="model"/>. Every parameter must be present with the
    /// right shape, and nothing else may be.
    /// </summary>
    /// <param name="model">The model to fill.</param>
    /// <param name="checkpointPrefix">The checkpoint's path without <c>.index</c>, such as <c>folder/model.ckpt</c>.</param>
    public static void LoadWeights(Gpt2Model model, string checkpointPrefix)
    {
        using TensorBundle bundle = TensorBundle.Open(checkpointPrefix);
        LoadWeights(model, bundle);
    }

    /// <summary>The parameter of <see cref="Gpt2Model"/> that a TensorFlow variable holds, or null for none.</summary>
    internal static string? ParameterName(string variableName)
    {
        Match match = VariableName().Match(variableName);
        if (!match.Success)
            return null;
        string layer = match.Groups["layer"].Success ? $"h.{match.Groups["layer"].Value}." : "";
        string kind = match.Groups["kind"].Value is "b" ? "bias" : "weight";
        return $"{layer}{match.Groups["name"].Value.Replace('/', '.')}.{kind}";
    }

    private static void LoadWeights(Gpt2Model model, TensorBundle bundle)
    {
        string indexPath = bundle.Prefix + ".index";
        CheckpointWeights.Copy(model, indexPath, bundle.Tensors.Values.Select(entry => (entry.Name, ParameterName(entry.Name), entry.Shape)),
            (name, shape) => IsConvolutionWeight(name, shape.Length) ? [1, shape[1], shape[0]] : shape,
            (variable, name) => bundle.ReadTensor(variable) is var value && IsConvolutionWeight(name, (int)value.dim() - 1) ? value.squeeze(0).t() : value);
    }

    private static string CheckpointPrefix(string folder)
    {
        string checkpointFile = Path.Combine(folder, "checkpoint");
        string name = File.Exists(checkpointFile) && CheckpointPathLine().Match(File.ReadAllText(checkpointFile)) is { Success: true } line
            ? Path.GetFileName(line.Groups["path"].Value) // the path is the writer's; the checkpoint lies beside this file
            : DefaultCheckpointName;
        return Path.Combine(folder, name);
    }

    // OpenAI's GPT-2 implements the blocks' linear layers as 1x1 convolutions with weights [1, in, out].
    private static bool IsConvolutionWeight(string name, int dimensions) =>
        dimensions == 2 && name.StartsWith("h.", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal);
}
