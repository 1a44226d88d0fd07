using System.Diagnostics;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// Turns prompts into continuations with a model, a batch of rows at a time, through <see cref="Gpt2TextGenerationService"/>
/// (which crops each prompt to its last context length minus <see cref="GenerationOptions.MaxNewTokens"/> tokens and
/// ends a continuation before <c>&lt;|endoftext|&gt;</c> or the first stop string), adding ML.NET's cancellation and
/// progress. Batches from several cursors run at once: each joins the service's host (<see cref="LanguageModelHost"/>)
/// at its next decode step, beside any chat client or embedding generator over <see cref="Service"/>'s host.
/// </summary>
internal sealed class TextGenerationEngine : IDisposable
{
    // Made at the first generation, after any training: an ONNX Runtime session copies the weights it is made from.
    private readonly Lazy<Gpt2TextGenerationService> _service;
    private readonly MLContextCancellation _mlContextCancellation;
    private long _rowsCompleted, _tokensGenerated, _generatingTicks;

    public TextGenerationEngine(MLContext mlContext, CausalLanguageModel model, LanguageModelTokenizer tokenizer, Gpt2GenerationOptions options,
        CancellationToken cancellationToken, OnnxWeightQuantization? savedWeightQuantization)
    {
        options.Validate();
        OptionChecks.Check(options.Sampling.MaxNewTokens < model.Config.ContextLength, Gpt2GenerationOptions.SamplingPath + "MaxNewTokens", options.Sampling.MaxNewTokens,
            $"less than the model's context length of {model.Config.ContextLength}, to leave room for the prompt");
        Model = model;
        Tokenizer = tokenizer;
        Options = options.Sampling;
        BatchSize = options.BatchSize;
        Progress = options.Progress;
        CancellationToken = cancellationToken;
        SavedWeightQuantization = savedWeightQuantization;
        _service = new(() => new Gpt2TextGenerationService(model, tokenizer, onnxRuntime: options.Engine.Resolve(model)));
        _mlContextCancellation = new MLContextCancellation(mlContext);
    }

    /// <summary>An engine over the model of <paramref name="modelOptions"/>, which is released again if the options do not fit it.</summary>
    public static TextGenerationEngine Load(MLContext mlContext, Gpt2ModelOptions modelOptions, Gpt2GenerationOptions options)
    {
        LanguageModelTokenizer tokenizer = modelOptions.BaseModel.LoadTokenizer(modelOptions.DownloadProgress, modelOptions.CancellationToken);
        CausalLanguageModel model = modelOptions.LoadModel(mlContext);
        try
        {
            return new TextGenerationEngine(mlContext, model, tokenizer, options, modelOptions.CancellationToken, modelOptions.SavedWeightQuantization);
        }
        catch
        {
            modelOptions.Release(model);
            throw;
        }
    }

    public CausalLanguageModel Model { get; }

    /// <summary>The model's tokenizer.</summary>
    public LanguageModelTokenizer Tokenizer { get; }

    /// <summary>How a saved zip stores the weights; float32 when null.</summary>
    public OnnxWeightQuantization? SavedWeightQuantization { get; }

    /// <summary>The service that generates; its requests and this engine's batches share its host's running batch.</summary>
    public Gpt2TextGenerationService Service => _service.Value;

    public GenerationOptions Options { get; }

    public int BatchSize { get; }

    public Action<TextGenerationProgress>? Progress { get; }

    public CancellationToken CancellationToken { get; }

    /// <summary>Why a saved model could not decode as this engine does, or null when it can (see <see cref="OnnxGeneratorSupport"/>).</summary>
    public string? WhyNotSaveable => SavedModelSupport.WhyNotSaveable(Model, Tokenizer)
        ?? OnnxGeneratorSupport.WhyNotExportable(Options, Gpt2GenerationOptions.SamplingPath);

    /// <summary>The continuation of each prompt; <paramref name="columnName"/> names the prompts' column in errors.</summary>
    public string[] Generate(IReadOnlyList<string?> prompts, string columnName)
    {
        if (prompts.Any(string.IsNullOrEmpty))
            throw new InvalidOperationException(
                $"Column '{columnName}' holds an empty or missing text; the model needs at least one token. Filter out empty rows first " +
                "(for example with mlContext.Data.FilterByCustomPredicate).");
        _mlContextCancellation.ThrowIfCancelled();
        long started = Stopwatch.GetTimestamp();
        IReadOnlyList<TextGenerationResult> results = Service.GenerateBatch([.. prompts.Select(prompt => prompt!)], Options, CancellationToken);
        long ticks = Interlocked.Add(ref _generatingTicks, Stopwatch.GetElapsedTime(started).Ticks);
        long rows = Interlocked.Add(ref _rowsCompleted, prompts.Count);
        long tokens = Interlocked.Add(ref _tokensGenerated, results.Sum(result => result.CompletionTokenCount));
        Progress?.Invoke(new TextGenerationProgress(rows, tokens, TimeSpan.FromTicks(ticks)));
        return [.. results.Select(result => result.Text)];
    }

    /// <summary>Writes the model as ONNX Runtime's GreedySearch or Sampling with this engine's settings (see <see cref="WhyNotSaveable"/>).</summary>
    public void ExportGenerator(string path)
    {
        OnnxSampling? sampling = Options.Temperature == 0 ? null
            : new OnnxSampling((float)Options.Temperature, (float)(Options.TopP ?? 1), Options.Seed is long seed ? checked((int)seed) : null);
        // Under the model's lock, so that no decode step of the service runs while the weights are read.
        ModelGate.Run(Model, () =>
        {
            Gpt2OnnxExporter.ExportGenerator(Model, path, Options.MaxNewTokens, Tokenizer.EndOfTextId, padTokenId: Tokenizer.EndOfTextId, sampling,
                SavedWeightQuantization);
            return true;
        });
    }

    public void Dispose()
    {
        if (_service.IsValueCreated)
            _service.Value.Dispose();
        Model.Dispose();
    }
}
