using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Classification;

/// <summary>
/// Fine-tunes GPT-2 for text classification (the book's chapter 6) inside an ML.NET pipeline. Reads a text column and
/// a key-typed label, and fits a <see cref="Gpt2TextClassificationTransformer"/> that adds <c>Score</c> (class
/// probabilities) and <c>PredictedLabel</c>. Create it with <c>mlContext.MulticlassClassification.Trainers.Gpt2(...)</c>.
/// </summary>
public sealed class Gpt2TextClassifier : IEstimator<Gpt2TextClassificationTransformer>
{
    /// <summary>Options of <see cref="Gpt2TextClassifier"/>; the defaults are the book's.</summary>
    public sealed class Options
    {
        /// <summary>The key-typed label column.</summary>
        public string LabelColumnName = "Label";

        /// <summary>The text column.</summary>
        public string Sentence1ColumnName = "Text";

        /// <summary>The class-probability column to add.</summary>
        public string ScoreColumnName = "Score";

        /// <summary>The predicted-key column to add.</summary>
        public string PredictedLabelColumnName = "PredictedLabel";

        /// <summary>
        /// The GPT-2 to start from: a preset (<c>124M</c>, <c>355M</c>, <c>774M</c>, <c>1558M</c>, <c>mini</c>, ...), a Hugging Face
        /// model id (<c>gpt2</c>, <c>gpt2-medium</c>, <c>owner/name</c>; downloaded once into the cache), a local checkpoint folder,
        /// or a directory of checkpoints written by <c>LanguageModelTrainer</c> (its latest one).
        /// </summary>
        public string BaseModel = "124M";

        /// <summary>Start from random weights with <see cref="BaseModel"/>'s sizes instead of its published weights.</summary>
        public bool RandomInitialization;

        /// <summary>When set, start from random weights with these sizes (<see cref="BaseModel"/> is then ignored).</summary>
        public Gpt2Config? ModelConfig;

        /// <summary>Which layers train; <see cref="TrainableLayers.LoRA"/> trains low-rank adapters and the head only.</summary>
        public TrainableLayers TrainableLayers = TrainableLayers.LastBlock;

        /// <summary>Inner dimension of the adapters when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
        public int LoRARank = 16;

        /// <summary>
        /// Scale of the adapters' output (the book's: the update is alpha x A B, not alpha / rank x A B) when
        /// <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.
        /// </summary>
        public double LoRAAlpha = 16;

        /// <summary>Which linear layers of every block get adapters when <see cref="TrainableLayers"/> is <see cref="TrainableLayers.LoRA"/>.</summary>
        public LoRATargets LoRATargets = LoRATargets.All;

        /// <summary>Texts are cut to this many tokens; by default the longest training text's length (at most the context length).</summary>
        public int? MaxLength;

        /// <summary>Sequences per optimizer step.</summary>
        public int BatchSize = 8;

        /// <summary>Passes over the training data.</summary>
        public int Epochs = 5;

        /// <summary>AdamW's learning rate.</summary>
        public double LearningRate = 5e-5;

        /// <summary>AdamW's weight decay on matrices.</summary>
        public double WeightDecay = 0.1;

        /// <summary>Evaluate every this many steps (0: after each epoch).</summary>
        public int EvaluationInterval = 50;

        /// <summary>Data to evaluate on during training, with the same columns as the training data.</summary>
        public IDataView? ValidationSet;

        /// <summary>Seed of initialisation, shuffling and dropout.</summary>
        public int Seed = 123;

        /// <summary>Where to train; CUDA when available, else the CPU, when null.</summary>
        public Device? Device;

        /// <summary>Called after every training step with the step's loss, and with losses and accuracies at evaluations.</summary>
        public Action<ClassificationProgress>? Progress;

        /// <summary>Receives download progress when <see cref="BaseModel"/> must be downloaded.</summary>
        public IProgress<DownloadProgress>? DownloadProgress;

        /// <summary>Stops training before the next step (as does <c>MLContext.CancelExecution</c>).</summary>
        public CancellationToken CancellationToken;
    }

    private readonly MLContext _mlContext;
    private readonly Options _options;

    /// <summary>
    /// Creates the estimator in <paramref name="mlContext"/>, whose <c>CancelExecution</c> then stops training. (The catalog
    /// extension <c>mlContext.MulticlassClassification.Trainers.Gpt2</c> cannot reach its context, which ML.NET keeps internal.)
    /// </summary>
    public Gpt2TextClassifier(MLContext mlContext, Options options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        _mlContext = mlContext.RegisterGpt2Components();
        _options = options;
        ToTrainingOptions(options).Validate();
        if (options.MaxLength is < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxLength, "Options.MaxLength must be positive.");
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        InputColumns.RequireText(inputSchema, _options.Sentence1ColumnName);
        SchemaShape.Column label = InputColumns.Find(inputSchema, _options.LabelColumnName, "label");
        if (!label.IsKey || label.Kind != SchemaShape.Column.VectorKind.Scalar)
            throw new ArgumentException(
                $"Label column '{label.Name}' must be a key column, but holds {InputColumns.Describe(label)}. " +
                $"Map it first with mlContext.Transforms.Conversion.MapValueToKey(\"{label.Name}\").");

        // SchemaShape columns cannot be built outside ML.NET, so the in-memory mapping's estimator describes them.
        int classes = label.ItemType is KeyDataViewType key ? (int)key.Count : 2;
        PrimitiveDataViewType valueType = label.Annotations.FirstOrDefault(a => a.Name == ClassLabels.KeyValuesKind).ItemType as PrimitiveDataViewType
            ?? throw new ArgumentException($"Label column '{label.Name}' has no key values; create it with mlContext.Transforms.Conversion.MapValueToKey.");
        return Gpt2TextClassificationTransformer.Mapping(_mlContext, ClassLabels.Placeholder(classes, valueType), _options.Sentence1ColumnName,
            _options.ScoreColumnName, _options.PredictedLabelColumnName, (_, _) => throw new InvalidOperationException("Fit the estimator first."), out _)
            .GetOutputSchema(inputSchema);
    }

    /// <inheritdoc />
    public Gpt2TextClassificationTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        InputColumns.RequireText(input.Schema, _options.Sentence1ColumnName);
        DataViewSchema.Column labelColumn = input.Schema.GetColumnOrNull(_options.LabelColumnName) ?? throw InputColumns.Missing(_options.LabelColumnName, "label");
        ClassLabels labels = ClassLabels.FromColumn(labelColumn);

        List<(string Text, uint Key)> trainRows = ReadRows(input, "training");
        int[] presentClasses = [.. trainRows.Select(r => (int)r.Key).Distinct()];
        if (presentClasses.Length < 2)
            throw new ArgumentException(
                $"The training data holds only one class ({labels.Describe(presentClasses[0] - 1)}) in label column '{_options.LabelColumnName}'; a classifier needs at least two.");

        var cancellation = new MLContextCancellation(_mlContext);
        cancellation.ThrowIfCancelled(); // before loading a model in a context that can no longer train
        random.manual_seed(_options.Seed);
        Gpt2Model body = LoadBody();
        using var owned = new DisposeUnlessReturned(body); // a failed, cancelled or diverged fit frees the native model
        int maxLength = Math.Min(_options.MaxLength ?? int.MaxValue, body.Config.ContextLength);
        List<int[]> trainIds = [.. trainRows.Select(r => Gpt2TextEncoding.Encode(r.Text, _options.Sentence1ColumnName, body.Config.ContextLength))];
        maxLength = Math.Min(maxLength, trainIds.Max(ids => ids.Length));
        List<ClassificationExample> train = [.. trainRows.Select((r, i) => new ClassificationExample(Truncate(trainIds[i], maxLength), (int)r.Key - 1))];
        List<ClassificationExample>? validation = _options.ValidationSet is null ? null : ReadValidation(labels, maxLength);

        var model = new Gpt2SequenceClassifier(body, labels.Count);
        owned.Owner = model; // the head owns the body
        SequenceClassificationOptions trainingOptions = ToTrainingOptions(_options);
        model.SetTrainableLayers(_options.TrainableLayers, trainingOptions.LoRA);
        long trainedParameterCount = model.TrainableParameterCount;
        new SequenceClassificationTrainer(model, trainingOptions).Train(train, validation, progress =>
        {
            cancellation.ThrowIfCancelled();
            _options.Progress?.Invoke(progress);
        }, _options.CancellationToken);
        // The fitted model predicts and saves (to ONNX) with the adapters folded in: GPT-2's own layout and size.
        body.MergeLoRA();

        return owned.Return(new Gpt2TextClassificationTransformer(_mlContext, model, labels, _options.Sentence1ColumnName, _options.LabelColumnName,
            _options.ScoreColumnName, _options.PredictedLabelColumnName, maxLength, trainedParameterCount));
    }

    private static int[] Truncate(int[] ids, int maxLength) => ids.Length > maxLength ? ids[..maxLength] : ids;

    private static SequenceClassificationOptions ToTrainingOptions(Options options) => new()
    {
        BatchSize = options.BatchSize,
        Epochs = options.Epochs,
        LearningRate = options.LearningRate,
        WeightDecay = options.WeightDecay,
        EvaluationInterval = options.EvaluationInterval,
        Seed = options.Seed,
        LoRA = options.TrainableLayers == TrainableLayers.LoRA
            ? new LoRAOptions { Rank = options.LoRARank, Alpha = options.LoRAAlpha, Targets = options.LoRATargets }
            : null,
    };

    private Gpt2Model LoadBody() => Gpt2ModelSource.Load(_options.BaseModel, _options.RandomInitialization, _options.ModelConfig,
        _options.Device, _options.DownloadProgress, _options.CancellationToken);

    private List<(string Text, uint Key)> ReadRows(IDataView data, string which)
    {
        DataViewSchema.Column text = data.Schema[_options.Sentence1ColumnName];
        DataViewSchema.Column label = data.Schema[_options.LabelColumnName];
        var rows = new List<(string, uint)>();
        using DataViewRowCursor cursor = data.GetRowCursor([text, label]);
        ValueGetter<ReadOnlyMemory<char>> getText = cursor.GetGetter<ReadOnlyMemory<char>>(text);
        ValueGetter<uint> getLabel = cursor.GetGetter<uint>(label);
        ReadOnlyMemory<char> value = default;
        uint key = 0;
        while (cursor.MoveNext())
        {
            getText(ref value);
            getLabel(ref key);
            if (value.IsEmpty)
                throw new ArgumentException($"Row {rows.Count} of the {which} data has an empty or missing text in column '{text.Name}'; remove such rows first.");
            if (key == 0)
                throw new ArgumentException(
                    $"Row {rows.Count} of the {which} data has a label in column '{label.Name}' that is not among the label's key values " +
                    "(a value the label mapping never saw); map labels with the same MapValueToKey transformer as the training data.");
            rows.Add((value.ToString(), key));
        }
        if (rows.Count == 0)
            throw new ArgumentException($"The {which} data holds no rows.");
        return rows;
    }

    private List<ClassificationExample> ReadValidation(ClassLabels labels, int maxLength)
    {
        IDataView validation = _options.ValidationSet!;
        InputColumns.RequireText(validation.Schema, _options.Sentence1ColumnName);
        DataViewSchema.Column label = validation.Schema.GetColumnOrNull(_options.LabelColumnName) ?? throw InputColumns.Missing(_options.LabelColumnName, "label");
        // By value, not by key number: a validation set keyed by its own MapValueToKey numbers the classes its own way.
        ClassLabels validationLabels = ClassLabels.FromColumn(label, minimumClasses: 1);
        int[] toTraining = labels.IndicesOf(validationLabels, "validation");
        List<(string Text, uint Key)> rows = ReadRows(validation, "validation");
        string[] unseen = [.. rows.Where(r => toTraining[r.Key - 1] < 0).Select(r => validationLabels.Describe((int)r.Key - 1)).Distinct()];
        if (unseen.Length > 0)
            throw new ArgumentException(
                $"The validation data's label column '{label.Name}' holds {string.Join(", ", unseen.Select(v => $"'{v}'"))}, which the training data never had " +
                "(the classifier cannot predict them). Map the validation labels with the MapValueToKey transformer fitted on the training data, or remove those rows.");
        return [.. rows.Select(r => new ClassificationExample(
            Gpt2TextEncoding.Encode(r.Text, _options.Sentence1ColumnName, maxLength), toTraining[r.Key - 1]))];
    }
}
