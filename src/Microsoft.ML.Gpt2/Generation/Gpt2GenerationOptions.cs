using Gpt2.Torch.Downloads;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// What the GPT-2 components that write text share: the model to start from and how it decodes. Greedy decoding that
/// stops at <c>&lt;|endoftext|&gt;</c> (the default) is what a saved model zip reproduces in ONNX Runtime.
/// </summary>
public abstract class Gpt2GenerationOptions
{
    /// <summary>
    /// The GPT-2 to start from: a preset (<c>124M</c>, <c>355M</c>, <c>774M</c>, <c>1558M</c>, <c>mini</c>, ...), a Hugging Face
    /// model id (<c>gpt2</c>, <c>gpt2-medium</c>, <c>owner/name</c>; downloaded once into the cache), a checkpoint folder, or a
    /// directory of checkpoints written by <c>LanguageModelTrainer</c> (its latest one).
    /// </summary>
    public string BaseModel = "124M";

    /// <summary>Start from random weights with <see cref="BaseModel"/>'s sizes instead of its published weights.</summary>
    public bool RandomInitialization;

    /// <summary>When set, start from random weights with these sizes (<see cref="BaseModel"/> is then ignored).</summary>
    public Gpt2Config? ModelConfig;

    /// <summary>The most tokens generated per row. A prompt keeps its last context length minus this many tokens.</summary>
    public int MaxNewTokens = 50;

    /// <summary>0 decodes greedily; above 0, samples from the softmax of the logits divided by it.</summary>
    public double Temperature;

    /// <summary>When sampling, only the this many most likely tokens are candidates.</summary>
    public int? TopK;

    /// <summary>When sampling, only the most likely tokens whose probabilities sum to this are candidates (nucleus sampling).</summary>
    public double? TopP;

    /// <summary>Texts that end a row's generation; the generated text stops before the first of them.</summary>
    public string[] StopStrings = [];

    /// <summary>Seed of sampling, for reproducible output.</summary>
    public long? SamplingSeed;

    /// <summary>Rows generated together in one left-padded batch.</summary>
    public int GenerationBatchSize = 8;

    /// <summary>Where the model runs; CUDA when available, else the CPU, when null.</summary>
    public Device? Device;

    /// <summary>Called after each batch of generated rows.</summary>
    public Action<TextGenerationProgress>? GenerationProgress;

    /// <summary>Receives download progress when <see cref="BaseModel"/> must be downloaded.</summary>
    public IProgress<DownloadProgress>? DownloadProgress;

    /// <summary>Stops training and generation at the next step or token.</summary>
    public CancellationToken CancellationToken;

    internal GenerationOptions ToGenerationOptions() => new()
    {
        MaxNewTokens = MaxNewTokens,
        Temperature = Temperature,
        TopK = TopK,
        TopP = TopP,
        EndOfTextId = Gpt2Tokenizer.EndOfTextId,
        StopStrings = StopStrings,
        Seed = SamplingSeed,
    };

    internal void Validate()
    {
        ToGenerationOptions().Validate();
        if (MaxNewTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens must be at least 1.");
        if (GenerationBatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(GenerationBatchSize), GenerationBatchSize, "GenerationBatchSize must be at least 1.");
    }

    /// <summary>An engine over <paramref name="model"/>, or over <see cref="BaseModel"/> loaded here (and disposed if the options do not fit it).</summary>
    internal TextGenerationEngine CreateEngine(MLContext mlContext, Gpt2Model? model = null)
    {
        Gpt2Model loaded = model ?? Gpt2ModelSource.Load(BaseModel, RandomInitialization, ModelConfig, Device, DownloadProgress, CancellationToken);
        try
        {
            return new TextGenerationEngine(mlContext, loaded, this);
        }
        catch when (model is null)
        {
            loaded.Dispose();
            throw;
        }
    }
}
