using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch;

/// <summary>
/// Where a language model and its tokenizer come from: published or fine-tuned weights of any supported family (a preset,
/// a Hugging Face model id such as <c>gpt2</c> or <c>HuggingFaceTB/SmolLM2-135M</c>, a checkpoint folder, or a directory
/// of <see cref="LanguageModelTrainer"/> checkpoints), random weights of given sizes, or a model already in memory. Every
/// component that needs a model takes one; a string converts to <see cref="Pretrained"/>.
/// </summary>
public sealed class LanguageModelSource
{
    private enum Kind { Pretrained, Random, InMemory }

    private readonly Kind _kind;
    private readonly string? _nameOrPath;
    private readonly LanguageModelConfig? _config;
    private readonly CausalLanguageModel? _model;
    private readonly LanguageModelTokenizer? _tokenizer;
    private readonly string? _tokenizerModelId;   // a published size's tokenizer, downloaded when asked for
    private string? _downloadedFolder;

    private LanguageModelSource(Kind kind, string? nameOrPath, LanguageModelConfig? config, CausalLanguageModel? model, LanguageModelTokenizer? tokenizer,
        string? tokenizerModelId = null)
    {
        _tokenizerModelId = tokenizerModelId;
        _kind = kind;
        _nameOrPath = nameOrPath;
        _config = config;
        _model = model;
        _tokenizer = tokenizer;
    }

    /// <summary>
    /// Trained weights: a preset with published weights (<c>124M</c>, <c>355M</c>, <c>774M</c>, <c>1558M</c>), a Hugging Face
    /// model id (<c>gpt2</c>, <c>gpt2-medium</c>, <c>owner/name</c>; downloaded once into the cache), a local folder with
    /// <c>config.json</c> and <c>model.safetensors</c>, or a directory of <see cref="LanguageModelTrainer"/> checkpoints
    /// (its latest one).
    /// </summary>
    public static LanguageModelSource Pretrained(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        return new(Kind.Pretrained, nameOrPath, null, null, null);
    }

    /// <summary>
    /// Random weights with a preset's sizes (any family's, <see cref="LanguageModelConfig.PresetNames"/>) or a config
    /// folder's (with the folder's <c>tokenizer.json</c>, if any). A published Llama-family size reads text with its
    /// published tokenizer, which <see cref="LoadTokenizer"/> downloads (tokenizer files only) when asked.
    /// </summary>
    public static LanguageModelSource Random(string presetOrConfigFolder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(presetOrConfigFolder);
        string configPath = Path.Combine(presetOrConfigFolder, Gpt2Checkpoint.ConfigFileName);
        if (!File.Exists(configPath))
        {
            LanguageModelConfig preset = LanguageModelConfig.FromPreset(presetOrConfigFolder);
            // A published size without a built-in tokenizer reads text with its published tokenizer, downloaded when asked for.
            string? tokenizerModelId = preset.BuiltInTokenizer is null ? LlamaConfig.PresetIdOf(presetOrConfigFolder) : null;
            return new(Kind.Random, null, preset, null, null, tokenizerModelId);
        }
        LanguageModelConfig config = LanguageModelConfig.Load(configPath);
        bool hasTokenizer = File.Exists(Path.Combine(presetOrConfigFolder, HuggingFaceTokenizer.TokenizerFileName));
        return Random(config, hasTokenizer ? HuggingFaceTokenizer.Load(presetOrConfigFolder) : null);
    }

    /// <summary>Random weights with these sizes.</summary>
    /// <param name="config">The model's family and sizes.</param>
    /// <param name="tokenizer">The tokenizer; the family's built-in one (GPT-2's) when null, which families without one (Llama, Qwen) need.</param>
    public static LanguageModelSource Random(LanguageModelConfig config, LanguageModelTokenizer? tokenizer = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return new(Kind.Random, null, config, null, tokenizer);
    }

    /// <summary>
    /// A model already in memory, used as it is (not copied): a component that trains it trains it in place, and the
    /// fitted transformer it returns owns it (disposing the transformer disposes the model).
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="tokenizer">Its tokenizer; the family's built-in one (GPT-2's) when null, which families without one (Llama, Qwen) need.</param>
    public static LanguageModelSource FromModel(CausalLanguageModel model, LanguageModelTokenizer? tokenizer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new(Kind.InMemory, null, model.Config, model, tokenizer);
    }

    /// <summary>
    /// The published weights of <paramref name="preset"/>, downloaded now (or found in the cache), or, when they cannot be
    /// had (no network, no published weights for that preset), random weights with its sizes. <see cref="IsRandom"/> says which.
    /// </summary>
    /// <param name="preset">A preset or published model id.</param>
    /// <param name="progress">Receives download progress.</param>
    /// <param name="hub">The Hub to download from; the default one when null.</param>
    /// <param name="cancellationToken">Stops the download.</param>
    public static async Task<LanguageModelSource> PublishedOrRandomAsync(string preset, IProgress<DownloadProgress>? progress = null,
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
    public static implicit operator LanguageModelSource(string nameOrPath) => Pretrained(nameOrPath);

    /// <summary>
    /// The model: loaded (downloaded when needed) or created with random weights on <paramref name="device"/>, which the
    /// caller then owns; or the in-memory model itself, moved to <paramref name="device"/> when one is given.
    /// </summary>
    /// <param name="device">Where the model lives; <see cref="TorchDevices.Default"/> when null.</param>
    /// <param name="progress">Receives download progress.</param>
    /// <param name="cancellationToken">Stops a download.</param>
    public CausalLanguageModel Load(Device? device = null, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        switch (_kind)
        {
            case Kind.InMemory:
                if (device is not null)
                    _model!.to(device);
                return _model!;
            case Kind.Random:
                return _config!.CreateModel(device);
        }
        return LanguageModelConfig.LoadCheckpointFolder(Folder(progress, cancellationToken), device);
    }

    /// <summary>
    /// The model's tokenizer: the one given with a random or in-memory model, else the checkpoint folder's
    /// <c>tokenizer.json</c> (with <c>tokenizer_config.json</c>), else, for random weights of a published Llama-family
    /// size, its published tokenizer (downloaded once into the cache), else the family's built-in one (GPT-2's).
    /// </summary>
    /// <param name="progress">Receives download progress, when the weights are not downloaded yet.</param>
    /// <param name="cancellationToken">Stops a download.</param>
    /// <exception cref="InvalidOperationException">The family has no built-in tokenizer and none was given or found.</exception>
    public LanguageModelTokenizer LoadTokenizer(IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (_tokenizer is not null)
            return _tokenizer;
        if (_kind == Kind.Pretrained)
        {
            string folder = Folder(progress, cancellationToken);
            if (File.Exists(Path.Combine(folder, HuggingFaceTokenizer.TokenizerFileName)))
                return HuggingFaceTokenizer.Load(folder);
            return LanguageModelConfig.Load(Path.Combine(folder, Gpt2Checkpoint.ConfigFileName)).BuiltInTokenizer
                ?? throw new InvalidOperationException(
                    $"{folder} holds no {HuggingFaceTokenizer.TokenizerFileName}, and its model family has no built-in tokenizer; copy the tokenizer files of the model it was trained from into it.");
        }
        if (_tokenizerModelId is string tokenizerModelId)
            return HuggingFaceTokenizer.Load(new HuggingFaceHub().DownloadTokenizerAsync(tokenizerModelId, progress, cancellationToken).GetAwaiter().GetResult());
        return _config!.BuiltInTokenizer ?? throw new InvalidOperationException(
            $"A '{_config.ModelType}' model has no built-in tokenizer: give one to LanguageModelSource.{(_kind == Kind.Random ? "Random" : "FromModel")}(..., tokenizer), for example HuggingFaceTokenizer.Load(folder).");
    }

    // The checkpoint folder of pretrained weights: the folder given, the latest checkpoint of a trainer's directory, or the
    // download of a Hugging Face model id (once per source).
    private string Folder(IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        string nameOrPath = _nameOrPath!;
        if (Directory.Exists(nameOrPath) && !File.Exists(Path.Combine(nameOrPath, Gpt2Checkpoint.ConfigFileName))
            && File.Exists(Path.Combine(nameOrPath, TrainingCheckpoint.LatestFileName)))
            return TrainingCheckpoint.Locate(nameOrPath);
        if (Directory.Exists(nameOrPath))
            return nameOrPath;
        return _downloadedFolder ??= new HuggingFaceHub().DownloadModelAsync(HuggingFaceHub.ResolveModelId(nameOrPath), progress, cancellationToken)
            .GetAwaiter().GetResult();
    }

    /// <inheritdoc />
    public override string ToString() => _kind switch
    {
        Kind.Pretrained => _nameOrPath!,
        Kind.Random => $"random weights ({_config!.ModelType}, {_config.LayerCount} layers, width {_config.EmbeddingSize}, context {_config.ContextLength})",
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
