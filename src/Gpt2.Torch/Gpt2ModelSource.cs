using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch;

/// <summary>
/// Where a GPT-2 comes from: published or fine-tuned weights (a preset, a Hugging Face model id, a checkpoint folder, or
/// a directory of <see cref="LanguageModelTrainer"/> checkpoints), random weights of given sizes, or a model already in
/// memory. Every component that needs a GPT-2 takes one; a string converts to <see cref="Pretrained"/>.
/// </summary>
public sealed class Gpt2ModelSource
{
    private enum Kind { Pretrained, Random, InMemory }

    private readonly Kind _kind;
    private readonly string? _nameOrPath;
    private readonly Gpt2Config? _config;
    private readonly Gpt2Model? _model;

    private Gpt2ModelSource(Kind kind, string? nameOrPath, Gpt2Config? config, Gpt2Model? model)
    {
        _kind = kind;
        _nameOrPath = nameOrPath;
        _config = config;
        _model = model;
    }

    /// <summary>
    /// Trained weights: a preset with published weights (<c>124M</c>, <c>355M</c>, <c>774M</c>, <c>1558M</c>), a Hugging Face
    /// model id (<c>gpt2</c>, <c>gpt2-medium</c>, <c>owner/name</c>; downloaded once into the cache), a local folder with
    /// <c>config.json</c> and <c>model.safetensors</c>, or a directory of <see cref="LanguageModelTrainer"/> checkpoints
    /// (its latest one).
    /// </summary>
    public static Gpt2ModelSource Pretrained(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        return new(Kind.Pretrained, nameOrPath, null, null);
    }

    /// <summary>Random weights with a preset's sizes (<see cref="Gpt2Config.PresetNames"/>) or a config folder's.</summary>
    public static Gpt2ModelSource Random(string presetOrConfigFolder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(presetOrConfigFolder);
        string configPath = Path.Combine(presetOrConfigFolder, Gpt2Checkpoint.ConfigFileName);
        return Random(File.Exists(configPath) ? Gpt2Config.Load(configPath) : Gpt2Config.FromPreset(presetOrConfigFolder));
    }

    /// <summary>Random weights with these sizes.</summary>
    public static Gpt2ModelSource Random(Gpt2Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return new(Kind.Random, null, config, null);
    }

    /// <summary>
    /// A model already in memory, used as it is (not copied): a component that trains it trains it in place, and the
    /// fitted transformer it returns owns it (disposing the transformer disposes the model).
    /// </summary>
    public static Gpt2ModelSource FromModel(Gpt2Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new(Kind.InMemory, null, model.Config, model);
    }

    /// <summary>
    /// The published weights of <paramref name="preset"/>, downloaded now (or found in the cache), or, when they cannot be
    /// had (no network, no published weights for that preset), random weights with its sizes. <see cref="IsRandom"/> says which.
    /// </summary>
    /// <param name="preset">A preset or published model id.</param>
    /// <param name="progress">Receives download progress.</param>
    /// <param name="hub">The Hub to download from; the default one when null.</param>
    /// <param name="cancellationToken">Stops the download.</param>
    public static async Task<Gpt2ModelSource> PublishedOrRandomAsync(string preset, IProgress<DownloadProgress>? progress = null,
        HuggingFaceHub? hub = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(preset);
        if (PublishedModelId(preset) is not string modelId)
            return Random(preset);
        try
        {
            return Pretrained(await (hub ?? new HuggingFaceHub()).DownloadModelAsync(modelId, progress, cancellationToken).ConfigureAwait(false));
        }
        catch (DownloadException)
        {
            return Random(preset);
        }
    }

    /// <summary>Whether this source gives random weights.</summary>
    public bool IsRandom => _kind == Kind.Random;

    /// <summary>Whether this source is a model already in memory.</summary>
    public bool IsInMemory => _kind == Kind.InMemory;

    /// <summary>The name or path of <see cref="Pretrained"/> weights; null for the other kinds.</summary>
    public string? NameOrPath => _nameOrPath;

    /// <summary>Trained weights named by <paramref name="nameOrPath"/>; see <see cref="Pretrained"/>.</summary>
    public static implicit operator Gpt2ModelSource(string nameOrPath) => Pretrained(nameOrPath);

    /// <summary>
    /// The model: loaded (downloaded when needed) or created with random weights on <paramref name="device"/>, which the
    /// caller then owns; or the in-memory model itself, moved to <paramref name="device"/> when one is given.
    /// </summary>
    /// <param name="device">Where the model lives; <see cref="TorchDevices.Default"/> when null.</param>
    /// <param name="progress">Receives download progress.</param>
    /// <param name="cancellationToken">Stops a download.</param>
    public Gpt2Model Load(Device? device = null, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        switch (_kind)
        {
            case Kind.InMemory:
                if (device is not null)
                    _model!.to(device);
                return _model!;
            case Kind.Random:
                return new Gpt2Model(_config!, device);
        }
        string nameOrPath = _nameOrPath!;
        if (Directory.Exists(nameOrPath) && !File.Exists(Path.Combine(nameOrPath, Gpt2Checkpoint.ConfigFileName))
            && File.Exists(Path.Combine(nameOrPath, TrainingCheckpoint.LatestFileName)))
            return Gpt2Checkpoint.Load(TrainingCheckpoint.Locate(nameOrPath), device);
        string folderOrModelId = Directory.Exists(nameOrPath) ? nameOrPath : HuggingFaceHub.ResolveModelId(nameOrPath);
        return Gpt2Checkpoint.LoadPretrainedAsync(folderOrModelId, device, progress: progress, cancellationToken: cancellationToken)
            .GetAwaiter().GetResult();
    }

    /// <inheritdoc />
    public override string ToString() => _kind switch
    {
        Kind.Pretrained => _nameOrPath!,
        Kind.Random => $"random weights ({_config!.LayerCount} layers, width {_config.EmbeddingSize}, context {_config.ContextLength})",
        _ => "an in-memory model",
    };

    private static string? PublishedModelId(string preset)
    {
        try
        {
            string id = HuggingFaceHub.ResolveModelId(preset);
            return HuggingFaceHub.PublishedGpt2Models.Contains(id) ? id : null;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
