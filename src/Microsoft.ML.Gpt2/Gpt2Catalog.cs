using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.IO;
using Microsoft.ML.Gpt2;
using Microsoft.ML.Gpt2.Classification;
using Microsoft.ML.Gpt2.Generation;
using Microsoft.ML.Gpt2.Instructions;

namespace Microsoft.ML;

/// <summary>Catalog extensions that reach this package's GPT-2 components from an <see cref="MLContext"/>.</summary>
/// <remarks>
/// The estimators that <c>Gpt2</c>, <c>Gpt2TextGenerator</c> and <c>Gpt2InstructionTuner</c> return obey the
/// <see cref="MLContext"/> whose catalog they were called on, as an estimator made with that context directly does:
/// <list type="bullet">
/// <item><c>CancelExecution()</c>, at any time before or during <c>Fit</c> or generation, stops it with an
/// <see cref="OperationCanceledException"/>;</item>
/// <item><see cref="MLContext.GpuDeviceId"/> and <see cref="MLContext.FallbackToCpu"/>, as they are when <c>Fit</c> loads the
/// model, choose the device when the options' <c>Device</c> is null;</item>
/// <item><see cref="MLContext.Log"/> receives the messages of the ML.NET components the estimator runs (under the source
/// <c>Gpt2MLNet</c>; the GPT-2 components write none of their own);</item>
/// <item>the context's <see cref="MLContext.ComponentCatalog"/> learns this package's components (as
/// <see cref="Gpt2Components.RegisterGpt2Components"/> does), so that it loads the saved zips.</item>
/// </list>
/// The context's seed is not used: the options' <c>Seed</c> is. ML.NET 5.0 and 6.0 keep a catalog's context internal; it is
/// reached by reflection on ML.NET's internal <c>IInternalCatalog</c>, <c>ICancelable</c> and
/// <c>IHostEnvironmentInternal</c>. Under an ML.NET where those are not found, the estimators work in a context of their
/// own and obey none of the above: create them with their constructors (<c>new Gpt2TextClassifier(mlContext, options)</c>)
/// to be sure of it.
/// </remarks>
public static class Gpt2Catalog
{
    /// <summary>
    /// Fine-tunes GPT-2 to classify the text in <paramref name="sentence1ColumnName"/> (or the pair with
    /// <paramref name="sentence2ColumnName"/>) into the classes of the key-typed <paramref name="labelColumnName"/>; adds
    /// <paramref name="scoreColumnName"/> (class probabilities) and <paramref name="outputColumnName"/> (the predicted key).
    /// The parameters are those of ML.NET's <c>TextClassification</c> trainer (Microsoft.ML.TorchSharp), in the same order,
    /// with <paramref name="baseModel"/> in place of its architecture; the other options are in <see cref="Gpt2TextClassifier.Options"/>.
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">The key-typed label column (use <c>MapValueToKey</c> first).</param>
    /// <param name="scoreColumnName">The class-probability column to add.</param>
    /// <param name="outputColumnName">The predicted-label column to add (a key with the label's key values).</param>
    /// <param name="sentence1ColumnName">The text column, or the first text of a pair.</param>
    /// <param name="sentence2ColumnName">The second text of a pair, or null for single texts.</param>
    /// <param name="batchSize">Sequences per step.</param>
    /// <param name="maxEpochs">Passes over the training data.</param>
    /// <param name="baseModel">The GPT-2 to start from: a preset, Hugging Face model id, checkpoint folder or <see cref="LanguageModelSource"/>; 124M when null.</param>
    /// <param name="validationSet">Data to evaluate on during training, or null.</param>
    /// <remarks>The estimator obeys the catalog's <see cref="MLContext"/>: <c>CancelExecution()</c>, <see cref="MLContext.GpuDeviceId"/>, <see cref="MLContext.FallbackToCpu"/> and <see cref="MLContext.Log"/>, as <see cref="Gpt2Catalog"/> details.</remarks>
    public static Gpt2TextClassifier Gpt2(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string scoreColumnName = "Score", string outputColumnName = "PredictedLabel",
        string sentence1ColumnName = "Sentence1", string? sentence2ColumnName = null, int batchSize = 8, int maxEpochs = 5,
        LanguageModelSource? baseModel = null, IDataView? validationSet = null)
    {
        var options = new Gpt2TextClassifier.Options
        {
            LabelColumnName = labelColumnName,
            ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = outputColumnName,
            Sentence1ColumnName = sentence1ColumnName,
            Sentence2ColumnName = sentence2ColumnName,
            BatchSize = batchSize,
            MaxEpochs = maxEpochs,
            ValidationSet = validationSet,
        };
        if (baseModel is not null)
            options.BaseModel = baseModel;
        return Gpt2(catalog, options);
    }

    /// <summary>Fine-tunes GPT-2 for text classification with every option of <see cref="Gpt2TextClassifier.Options"/>.</summary>
    /// <remarks>The estimator obeys the catalog's <see cref="MLContext"/>: <c>CancelExecution()</c>, <see cref="MLContext.GpuDeviceId"/>, <see cref="MLContext.FallbackToCpu"/> and <see cref="MLContext.Log"/>, as <see cref="Gpt2Catalog"/> details.</remarks>
    public static Gpt2TextClassifier Gpt2(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, Gpt2TextClassifier.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new Gpt2TextClassifier(CatalogEnvironment.CreateContext(catalog, options.Seed), options);
    }

    /// <summary>
    /// Generates the continuation of the prompt in <paramref name="inputColumnName"/> into <paramref name="outputColumnName"/>
    /// with a GPT-2 (no training), greedily and up to <paramref name="maxNewTokens"/> tokens or <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="outputColumnName">The generated-text column to add.</param>
    /// <param name="inputColumnName">The prompt column.</param>
    /// <param name="baseModel">The GPT-2 to generate with: a preset, Hugging Face model id, checkpoint folder or <see cref="LanguageModelSource"/>; 124M when null.</param>
    /// <param name="maxNewTokens">The most tokens generated per row.</param>
    /// <remarks>The estimator obeys the catalog's <see cref="MLContext"/>: <c>CancelExecution()</c>, <see cref="MLContext.GpuDeviceId"/>, <see cref="MLContext.FallbackToCpu"/> and <see cref="MLContext.Log"/>, as <see cref="Gpt2Catalog"/> details.</remarks>
    public static Gpt2TextGenerator Gpt2TextGenerator(this TransformsCatalog.TextTransforms catalog, string outputColumnName = "GeneratedText",
        string inputColumnName = "Prompt", LanguageModelSource? baseModel = null, int maxNewTokens = 50)
    {
        var options = new Gpt2TextGenerator.Options { OutputColumnName = outputColumnName, InputColumnName = inputColumnName };
        options.Generation.Sampling = new GenerationOptions { MaxNewTokens = maxNewTokens };
        if (baseModel is not null)
            options.BaseModel = baseModel;
        return Gpt2TextGenerator(catalog, options);
    }

    /// <summary>Generates text with every option of <see cref="Gpt2TextGenerator.Options"/>.</summary>
    /// <remarks>The estimator obeys the catalog's <see cref="MLContext"/>: <c>CancelExecution()</c>, <see cref="MLContext.GpuDeviceId"/>, <see cref="MLContext.FallbackToCpu"/> and <see cref="MLContext.Log"/>, as <see cref="Gpt2Catalog"/> details.</remarks>
    public static Gpt2TextGenerator Gpt2TextGenerator(this TransformsCatalog.TextTransforms catalog, Gpt2TextGenerator.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new Gpt2TextGenerator(CatalogEnvironment.CreateContext(catalog, seed: null), options);
    }

    /// <summary>
    /// Fine-tunes GPT-2 to follow instructions (the book's chapter 7) from the text columns
    /// <paramref name="instructionColumnName"/>, <paramref name="contextColumnName"/> (the Alpaca format's input) and
    /// <paramref name="labelColumnName"/> (its output, the reference response); the fitted transformer adds the generated
    /// response as <paramref name="outputColumnName"/>.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="outputColumnName">The generated-response column to add.</param>
    /// <param name="instructionColumnName">The instruction column.</param>
    /// <param name="contextColumnName">The column of the text the instruction works on (empty texts allowed).</param>
    /// <param name="labelColumnName">The reference-response column to learn from.</param>
    /// <param name="baseModel">The GPT-2 to start from: a preset, Hugging Face model id, checkpoint folder or <see cref="LanguageModelSource"/>; 355M when null.</param>
    /// <param name="maxEpochs">Passes over the training data.</param>
    /// <param name="validationSet">Data to evaluate the loss on during training, or null.</param>
    /// <remarks>The estimator obeys the catalog's <see cref="MLContext"/>: <c>CancelExecution()</c>, <see cref="MLContext.GpuDeviceId"/>, <see cref="MLContext.FallbackToCpu"/> and <see cref="MLContext.Log"/>, as <see cref="Gpt2Catalog"/> details.</remarks>
    public static Gpt2InstructionTuner Gpt2InstructionTuner(this TransformsCatalog.TextTransforms catalog, string outputColumnName = "Response",
        string instructionColumnName = "Instruction", string contextColumnName = "Input", string labelColumnName = "Output",
        LanguageModelSource? baseModel = null, int maxEpochs = 2, IDataView? validationSet = null)
    {
        var options = new Gpt2InstructionTuner.Options
        {
            OutputColumnName = outputColumnName,
            InstructionColumnName = instructionColumnName,
            ContextColumnName = contextColumnName,
            LabelColumnName = labelColumnName,
            MaxEpochs = maxEpochs,
            ValidationSet = validationSet,
        };
        if (baseModel is not null)
            options.BaseModel = baseModel;
        return Gpt2InstructionTuner(catalog, options);
    }

    /// <summary>Fine-tunes GPT-2 to follow instructions with every option of <see cref="Gpt2InstructionTuner.Options"/>.</summary>
    /// <remarks>The estimator obeys the catalog's <see cref="MLContext"/>: <c>CancelExecution()</c>, <see cref="MLContext.GpuDeviceId"/>, <see cref="MLContext.FallbackToCpu"/> and <see cref="MLContext.Log"/>, as <see cref="Gpt2Catalog"/> details.</remarks>
    public static Gpt2InstructionTuner Gpt2InstructionTuner(this TransformsCatalog.TextTransforms catalog, Gpt2InstructionTuner.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new Gpt2InstructionTuner(CatalogEnvironment.CreateContext(catalog, options.Seed), options);
    }

    /// <summary>
    /// <c>mlContext.Model.Save</c>, atomically: the zip is written beside <paramref name="filePath"/> and renamed over it only
    /// once complete, so a failure or crash midway (ML.NET writes a zip entry by entry) leaves the previous file intact.
    /// </summary>
    /// <param name="catalog">The model operations catalog.</param>
    /// <param name="model">The model to save.</param>
    /// <param name="inputSchema">The schema of the model's input.</param>
    /// <param name="filePath">The zip to write.</param>
    public static void SaveAtomically(this ModelOperationsCatalog catalog, ITransformer model, DataViewSchema inputSchema, string filePath)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrEmpty(filePath);
        AtomicFile.Write(filePath, stream => catalog.Save(model, inputSchema, stream));
    }
}
