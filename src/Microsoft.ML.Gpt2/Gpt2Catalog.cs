using Microsoft.ML.Gpt2.Classification;

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
}
