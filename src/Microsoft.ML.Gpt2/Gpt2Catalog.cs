using Gpt2.Torch.IO;
using Microsoft.ML.Gpt2.Classification;
using Microsoft.ML.Gpt2.Generation;
using Microsoft.ML.Gpt2.Instructions;

namespace Microsoft.ML;

/// <summary>Catalog extensions that reach this package's GPT-2 components from an <see cref="MLContext"/>.</summary>
public static class Gpt2Catalog
{
    /// <summary>
    /// Fine-tunes GPT-2 to classify the text in <paramref name="sentence1ColumnName"/> into the classes of the key-typed
    /// <paramref name="labelColumnName"/>; adds <paramref name="scoreColumnName"/> (class probabilities) and
    /// <paramref name="predictedLabelColumnName"/> (the predicted key).
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">The key-typed label column (use <c>MapValueToKey</c> first).</param>
    /// <param name="sentence1ColumnName">The text column.</param>
    /// <param name="scoreColumnName">The class-probability column to add.</param>
    /// <param name="predictedLabelColumnName">The predicted-key column to add.</param>
    /// <param name="baseModel">A preset, Hugging Face model id or checkpoint folder; see <see cref="Gpt2TextClassifier.Options.BaseModel"/>.</param>
    /// <param name="batchSize">Sequences per step.</param>
    /// <param name="epochs">Passes over the training data.</param>
    /// <param name="learningRate">AdamW's learning rate.</param>
    /// <param name="validationSet">Data to evaluate on during training, or null.</param>
    public static Gpt2TextClassifier Gpt2(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string sentence1ColumnName = "Text", string scoreColumnName = "Score",
        string predictedLabelColumnName = "PredictedLabel", string baseModel = "124M", int batchSize = 8, int epochs = 5,
        double learningRate = 5e-5, IDataView? validationSet = null) =>
        Gpt2(catalog, new Gpt2TextClassifier.Options
        {
            LabelColumnName = labelColumnName,
            Sentence1ColumnName = sentence1ColumnName,
            ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = predictedLabelColumnName,
            BaseModel = baseModel,
            BatchSize = batchSize,
            Epochs = epochs,
            LearningRate = learningRate,
            ValidationSet = validationSet,
        });

    /// <summary>Fine-tunes GPT-2 for text classification with every option of <see cref="Gpt2TextClassifier.Options"/>.</summary>
    public static Gpt2TextClassifier Gpt2(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, Gpt2TextClassifier.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        // ML.NET keeps a catalog's MLContext internal, so the estimator works in a context of its own.
        return new Gpt2TextClassifier(new MLContext(options.Seed), options);
    }

    /// <summary>
    /// Generates the continuation of the prompt in <paramref name="inputColumnName"/> into <paramref name="outputColumnName"/>
    /// with a GPT-2 (no training), greedily and up to <paramref name="maxNewTokens"/> tokens or <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="outputColumnName">The generated-text column to add.</param>
    /// <param name="inputColumnName">The prompt column.</param>
    /// <param name="baseModel">A preset, Hugging Face model id or checkpoint folder; see <see cref="Gpt2GenerationOptions.BaseModel"/>.</param>
    /// <param name="maxNewTokens">The most tokens generated per row.</param>
    public static Gpt2TextGenerator Gpt2TextGenerator(this TransformsCatalog.TextTransforms catalog, string outputColumnName = "GeneratedText",
        string inputColumnName = "Prompt", string baseModel = "124M", int maxNewTokens = 50) =>
        Gpt2TextGenerator(catalog, new Gpt2TextGenerator.Options
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            BaseModel = baseModel,
            MaxNewTokens = maxNewTokens,
        });

    /// <summary>Generates text with every option of <see cref="Gpt2TextGenerator.Options"/>.</summary>
    public static Gpt2TextGenerator Gpt2TextGenerator(this TransformsCatalog.TextTransforms catalog, Gpt2TextGenerator.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new Gpt2TextGenerator(new MLContext(), options);
    }

    /// <summary>
    /// Fine-tunes GPT-2 to follow instructions (the book's chapter 7) from the text columns
    /// <paramref name="instructionColumnName"/>, <paramref name="inputColumnName"/> and <paramref name="outputColumnName"/>;
    /// the fitted transformer adds the generated response as <paramref name="responseColumnName"/>.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="responseColumnName">The generated-response column to add.</param>
    /// <param name="instructionColumnName">The instruction column.</param>
    /// <param name="inputColumnName">The input column (empty texts allowed).</param>
    /// <param name="outputColumnName">The reference-response column to learn from.</param>
    /// <param name="baseModel">A preset, Hugging Face model id or checkpoint folder; see <see cref="Gpt2GenerationOptions.BaseModel"/>.</param>
    /// <param name="epochs">Passes over the training data.</param>
    /// <param name="validationSet">Data to evaluate the loss on during training, or null.</param>
    public static Gpt2InstructionTuner Gpt2InstructionTuner(this TransformsCatalog.TextTransforms catalog, string responseColumnName = "Response",
        string instructionColumnName = "Instruction", string inputColumnName = "Input", string outputColumnName = "Output",
        string baseModel = "355M", int epochs = 2, IDataView? validationSet = null) =>
        Gpt2InstructionTuner(catalog, new Gpt2InstructionTuner.Options
        {
            ResponseColumnName = responseColumnName,
            InstructionColumnName = instructionColumnName,
            InputColumnName = inputColumnName,
            OutputColumnName = outputColumnName,
            BaseModel = baseModel,
            Epochs = epochs,
            ValidationSet = validationSet,
        });

    /// <summary>Fine-tunes GPT-2 to follow instructions with every option of <see cref="Gpt2InstructionTuner.Options"/>.</summary>
    public static Gpt2InstructionTuner Gpt2InstructionTuner(this TransformsCatalog.TextTransforms catalog, Gpt2InstructionTuner.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new Gpt2InstructionTuner(new MLContext(options.Seed), options);
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
