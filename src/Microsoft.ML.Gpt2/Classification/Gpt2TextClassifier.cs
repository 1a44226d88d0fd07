using Gpt2.Torch.Tokenization;
using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Classification;

/// <summary>
/// Fine-tunes GPT-2 for text classification (the book's chapter 6) inside an ML.NET pipeline. Reads a text column (or
/// a pair of text columns) and a key-typed label, and fits a <see cref="Gpt2TextClassificationTransformer"/> that adds <c>Score</c> (class
/// probabilities) and <c>PredictedLabel</c>. Create it with <c>mlContext.MulticlassClassification.Trainers.Gpt2(...)</c>.
/// </summary>
public sealed class Gpt2TextClassifier : IEstimator<Gpt2TextClassificationTransformer>
{
    /// <summary>Options of <see cref="Gpt2TextClassifier"/>; the defaults are the book's.</summary>
    public sealed class Options : Gpt2FineTuningOptions
    {
        /// <summary>Sets the book's defaults: GPT-2 124M, the last block, final norm and head trainable, 5 epochs, evaluation every 50 steps.</summary>
        public Options()
        {
            TrainableLayers = TrainableLayers.LastBlock;
            MaxEpochs = 5;
            EvaluationInterval = 50;
        }

        /// <summary>The key-typed label column.</summary>
        public string LabelColumnName = "Label";

        /// <summary>The class-probability column to add.</summary>
        public string ScoreColumnName = "Score";

        /// <summary>The predicted-label column to add (a key with the label's key values).</summary>
        public string PredictedLabelColumnName = "PredictedLabel";

        /// <summary>The text column, or the first text of a pair.</summary>
        public string Sentence1ColumnName = "Sentence1";

        /// <summary>
        /// The second text of a pair (for tasks such as entailment or paraphrase detection), or null for single texts. The
        /// two texts are joined with <c>&lt;|endoftext|&gt;</c> between them, a separator the model learns to read.
        /// </summary>
        public string? Sentence2ColumnName;

        /// <summary>
        /// Texts (or pairs, with the separator) are cut to this many tokens, the longer text of a pair first; by default the
        /// longest training row's length (at most the context length).
        /// </summary>
        public int? MaxLength;

        /// <summary>
        /// Rows the fitted transformer's <c>Transform</c> reads ahead and scores together (32 by default; at least 1): ordered
        /// by length, they run through the model in right-padded batches of 8 rows of similar lengths, so that little of the
        /// work goes to padding. A prediction engine scores one row at a time whatever this is; a saved zip does not keep it.
        /// </summary>
        public int ScoringBatchSize = 32;

        /// <inheritdoc />
        internal override void Validate()
        {
            base.Validate();
            if (MaxLength is int maxLength)
                OptionChecks.AtLeast(maxLength, 1, nameof(MaxLength), "128, or null for the longest training row's length");
            OptionChecks.AtLeast(ScoringBatchSize, 1, nameof(ScoringBatchSize), "32");
            OptionChecks.Requires(Sentence2ColumnName != Sentence1ColumnName, nameof(Sentence2ColumnName),
                $"Sentence2ColumnName names the same column as Sentence1ColumnName ('{Sentence1ColumnName}'); leave it null for single texts.");
        }

        internal string[] SentenceColumnNames => Sentence2ColumnName is null ? [Sentence1ColumnName] : [Sentence1ColumnName, Sentence2ColumnName];
    }

    private readonly MLContext _mlContext;
    private readonly Options _options;

    /// <summary>
    /// Creates the estimator in <paramref name="mlContext"/>, whose <c>CancelExecution</c> then stops training. (The catalog
    /// extension <c>mlContext.MulticlassClassification.Trainers.Gpt2</c> obeys its context as far as <see cref="Gpt2Catalog"/> says.)
    /// </summary>
    public Gpt2TextClassifier(MLContext mlContext, Options options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        _mlContext = mlContext.RegisterGpt2Components();
        _options = options;
        options.ToTrainingOptions<SequenceClassificationOptions>();
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        foreach (string name in _options.SentenceColumnNames)
            InputColumns.RequireText(inputSchema, name);
        SchemaShape.Column label = InputColumns.Find(inputSchema, _options.LabelColumnName, "label");
        if (!label.IsKey || label.Kind != SchemaShape.Column.VectorKind.Scalar)
            throw new ArgumentException(
                $"Label column '{label.Name}' must be a key column, but holds {InputColumns.Describe(label)}. " +
                $"Map it first with mlContext.Transforms.Conversion.MapValueToKey(\"{label.Name}\").");

        // SchemaShape columns cannot be built outside ML.NET, so the in-memory mapping's estimator describes them.
        int classes = label.ItemType is KeyDataViewType key ? (int)key.Count : 2;
        PrimitiveDataViewType valueType = label.Annotations.FirstOrDefault(a => a.Name == ClassLabels.KeyValuesKind).ItemType as PrimitiveDataViewType
            ?? throw new ArgumentException($"Label column '{label.Name}' has no key values; create it with mlContext.Transforms.Conversion.MapValueToKey.");
        return Gpt2TextClassificationTransformer.Mapping(_mlContext, ClassLabels.Placeholder(classes, valueType), _options.SentenceColumnNames,
            _options.ScoreColumnName, _options.PredictedLabelColumnName, (_, _) => throw new InvalidOperationException("Fit the estimator first."), out _)
            .GetOutputSchema(inputSchema);
    }

    /// <inheritdoc />
    public Gpt2TextClassificationTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        foreach (string name in _options.SentenceColumnNames)
            InputColumns.RequireText(input.Schema, name);
        DataViewSchema.Column labelColumn = input.Schema.GetColumnOrNull(_options.LabelColumnName) ?? throw InputColumns.Missing(_options.LabelColumnName, "label");
        ClassLabels labels = ClassLabels.FromColumn(labelColumn);

        List<LabeledText> trainRows = ReadRows(input, "training");
        int[] presentClasses = [.. trainRows.Select(r => (int)r.Key).Distinct()];
        if (presentClasses.Length < 2)
            throw new ArgumentException(
                $"The training data holds only one class ({labels.Describe(presentClasses[0] - 1)}) in label column '{_options.LabelColumnName}'; a classifier needs at least two.");

        var cancellation = new MLContextCancellation(_mlContext);
        cancellation.ThrowIfCancelled(); // before loading a model in a context that can no longer train
        _options.SeedRandomness();
        LanguageModelTokenizer tokenizer = _options.BaseModel.LoadTokenizer(_options.DownloadProgress, _options.CancellationToken);
        CausalLanguageModel body = _options.LoadModel(_mlContext);
        Gpt2SequenceClassifier? model = null;
        try
        {
            int limit = Math.Min(_options.MaxLength ?? int.MaxValue, body.Config.ContextLength);
            List<int[]> trainIds = [.. trainRows.Select(row => Encode(tokenizer, row, limit))];
            // Every row already fits the limit, so the longest one sets the length without cutting any further.
            int maxLength = trainIds.Max(ids => ids.Length);
            List<ClassificationExample> train = [.. trainRows.Select((row, i) => new ClassificationExample(trainIds[i], (int)row.Key - 1))];
            List<ClassificationExample>? validation = _options.ValidationSet is null ? null : ReadValidation(tokenizer, labels, maxLength);

            model = new Gpt2SequenceClassifier(body, labels.Count);
            SequenceClassificationOptions trainingOptions = _options.ToTrainingOptions<SequenceClassificationOptions>();
            using var trainer = new SequenceClassificationTrainer(model, trainingOptions);
            long trainedParameterCount = model.TrainableParameterCount;
            trainer.StepCompleted += step =>
            {
                cancellation.ThrowIfCancelled();
                _options.StepCompleted?.Invoke(step);
            };
            trainer.Evaluated += evaluation => _options.Evaluated?.Invoke(evaluation);
            trainer.Train(train, validation, _options.CancellationToken);
            // The fitted model predicts and saves (to ONNX) with the adapters folded in: GPT-2's own layout and size.
            body.MergeLoRA();

            return new Gpt2TextClassificationTransformer(_mlContext, model, tokenizer, labels, _options.SentenceColumnNames, _options.LabelColumnName,
                _options.ScoreColumnName, _options.PredictedLabelColumnName, maxLength, trainedParameterCount, _options.ScoringBatchSize,
                _options.SavedWeightQuantization);
        }
        catch
        {
            // The head is ours whatever the source; the body only when these options loaded it.
            if (!_options.BaseModel.IsInMemory)
                (model as IDisposable ?? body).Dispose();
            else if (model is not null)
            {
                model.HeadWeight.Dispose();
                model.HeadBias.Dispose();
            }
            throw;
        }
    }

    private readonly record struct LabeledText(string Text, string? Text2, uint Key);

    private int[] Encode(LanguageModelTokenizer tokenizer, LabeledText row, int maxTokens) => _options.Sentence2ColumnName is null
        ? Gpt2TextEncoding.Encode(tokenizer, row.Text, _options.Sentence1ColumnName, maxTokens)
        : Gpt2TextEncoding.EncodePair(tokenizer, row.Text, row.Text2, _options.Sentence1ColumnName, _options.Sentence2ColumnName, maxTokens);

    private List<LabeledText> ReadRows(IDataView data, string which)
    {
        DataViewSchema.Column[] texts = [.. _options.SentenceColumnNames.Select(name => data.Schema[name])];
        DataViewSchema.Column label = data.Schema[_options.LabelColumnName];
        var rows = new List<LabeledText>();
        using DataViewRowCursor cursor = data.GetRowCursor([.. texts, label]);
        ValueGetter<ReadOnlyMemory<char>>[] getTexts = [.. texts.Select(cursor.GetGetter<ReadOnlyMemory<char>>)];
        ValueGetter<uint> getLabel = cursor.GetGetter<uint>(label);
        var values = new ReadOnlyMemory<char>[texts.Length];
        uint key = 0;
        while (cursor.MoveNext())
        {
            for (int i = 0; i < texts.Length; i++)
            {
                getTexts[i](ref values[i]);
                if (values[i].IsEmpty)
                    throw new ArgumentException($"Row {rows.Count} of the {which} data has an empty or missing text in column '{texts[i].Name}'; remove such rows first.");
            }
            getLabel(ref key);
            if (key == 0)
                throw new ArgumentException(
                    $"Row {rows.Count} of the {which} data has a label in column '{label.Name}' that is not among the label's key values " +
                    "(a value the label mapping never saw); map labels with the same MapValueToKey transformer as the training data.");
            rows.Add(new LabeledText(values[0].ToString(), texts.Length > 1 ? values[1].ToString() : null, key));
        }
        if (rows.Count == 0)
            throw new ArgumentException($"The {which} data holds no rows.");
        return rows;
    }

    private List<ClassificationExample> ReadValidation(LanguageModelTokenizer tokenizer, ClassLabels labels, int maxLength)
    {
        IDataView validation = _options.ValidationSet!;
        foreach (string name in _options.SentenceColumnNames)
            InputColumns.RequireText(validation.Schema, name);
        DataViewSchema.Column label = validation.Schema.GetColumnOrNull(_options.LabelColumnName) ?? throw InputColumns.Missing(_options.LabelColumnName, "label");
        // By value, not by key number: a validation set keyed by its own MapValueToKey numbers the classes its own way.
        ClassLabels validationLabels = ClassLabels.FromColumn(label, minimumClasses: 1);
        int[] toTraining = labels.IndicesOf(validationLabels, "validation");
        List<LabeledText> rows = ReadRows(validation, "validation");
        string[] unseen = [.. rows.Where(r => toTraining[r.Key - 1] < 0).Select(r => validationLabels.Describe((int)r.Key - 1)).Distinct()];
        if (unseen.Length > 0)
            throw new ArgumentException(
                $"The validation data's label column '{label.Name}' holds {string.Join(", ", unseen.Select(v => $"'{v}'"))}, which the training data never had " +
                "(the classifier cannot predict them). Map the validation labels with the MapValueToKey transformer fitted on the training data, or remove those rows.");
        return [.. rows.Select(row => new ClassificationExample(Encode(tokenizer, row, maxLength), toTraining[row.Key - 1]))];
    }
}
