using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Data;
using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Classification;

/// <summary>
/// A fine-tuned GPT-2 text (or text-pair) classifier, fitted by <see cref="Gpt2TextClassifier"/>. It adds a class-probability vector
/// (<c>Score</c>) and the predicted key (<c>PredictedLabel</c>, with the training label's key values), computing them
/// with TorchSharp. <c>Transform</c> is lazy and scores <see cref="ScoringBatchSize"/> rows at a time (a second cursor
/// reads their texts ahead; they run in right-padded batches of similar lengths), passing every other column through; a
/// prediction engine scores row by row. Both give the same scores. <c>mlContext.Model.Save</c> stores it as an equivalent
/// chain of ML.NET's own transformers (tokenization, the model exported to ONNX, key mapping), which
/// <c>mlContext.Model.Load</c> reads back and runs with ONNX Runtime alone (no TorchSharp or libtorch needed).
/// </summary>
public sealed class Gpt2TextClassificationTransformer : ITransformer, IDisposable
{
    internal sealed class TextRow
    {
        public string? Text { get; set; }
        public string? Text2 { get; set; }
    }

    internal sealed class PredictionRow
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    private readonly MLContext _mlContext;
    private readonly ClassLabels _labels;
    private readonly CustomMappingTransformer<TextRow, PredictionRow> _mapper;

    internal Gpt2TextClassificationTransformer(MLContext mlContext, Gpt2SequenceClassifier model, LanguageModelTokenizer tokenizer, ClassLabels labels,
        string[] sentenceColumnNames, string labelColumnName, string scoreColumnName, string predictedLabelColumnName, int maxLength, long trainedParameterCount,
        int scoringBatchSize, OnnxWeightQuantization? savedWeightQuantization)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(scoringBatchSize, 1);
        _mlContext = mlContext;
        Model = model;
        Tokenizer = tokenizer;
        TrainedParameterCount = trainedParameterCount;
        _labels = labels;
        Sentence1ColumnName = sentenceColumnNames[0];
        Sentence2ColumnName = sentenceColumnNames.Length > 1 ? sentenceColumnNames[1] : null;
        LabelColumnName = labelColumnName;
        ScoreColumnName = scoreColumnName;
        PredictedLabelColumnName = predictedLabelColumnName;
        MaxLength = maxLength;
        ScoringBatchSize = scoringBatchSize;
        SavedWeightQuantization = savedWeightQuantization;

        _mapper = Mapping(mlContext, labels, sentenceColumnNames, scoreColumnName, predictedLabelColumnName, Predict, out SchemaDefinition input)
            .Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<TextRow>(), input));
    }

    /// <summary>The in-memory mapping from the text column (or pair) to the score and predicted-label columns.</summary>
    internal static CustomMappingEstimator<TextRow, PredictionRow> Mapping(MLContext mlContext, ClassLabels labels, string[] sentenceColumnNames,
        string scoreColumnName, string predictedLabelColumnName, Action<TextRow, PredictionRow> predict, out SchemaDefinition input)
    {
        input = InputSchema(sentenceColumnNames);
        var output = SchemaDefinition.Create(typeof(PredictionRow));
        output[nameof(PredictionRow.Score)].ColumnName = scoreColumnName;
        output[nameof(PredictionRow.Score)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, labels.Count);
        labels.AddSlotNames(output[nameof(PredictionRow.Score)]);
        SchemaDefinition.Column predicted = output[nameof(PredictionRow.PredictedLabel)];
        predicted.ColumnName = predictedLabelColumnName;
        predicted.ColumnType = new KeyDataViewType(typeof(uint), labels.Count);
        labels.AddKeyValues(predicted);
        return mlContext.Transforms.CustomMapping(predict, contractName: null, input, output);
    }

    /// <summary>The text column (or pair) as a schema definition of <see cref="TextRow"/>.</summary>
    internal static SchemaDefinition InputSchema(string[] sentenceColumnNames)
    {
        var input = SchemaDefinition.Create(typeof(TextRow));
        input[nameof(TextRow.Text)].ColumnName = sentenceColumnNames[0];
        if (sentenceColumnNames.Length > 1)
            input[nameof(TextRow.Text2)].ColumnName = sentenceColumnNames[1];
        else
            input.Remove(input[nameof(TextRow.Text2)]);
        return input;
    }

    /// <summary>The fine-tuned model.</summary>
    public Gpt2SequenceClassifier Model { get; }

    /// <summary>The tokenizer the texts are encoded with (the base model's).</summary>
    public LanguageModelTokenizer Tokenizer { get; }

    /// <summary>The text column read (the first text of a pair).</summary>
    public string Sentence1ColumnName { get; }

    /// <summary>The second text column of a pair, or null when the model classifies single texts.</summary>
    public string? Sentence2ColumnName { get; }

    /// <summary>The label column the model was trained on (not needed for prediction).</summary>
    public string LabelColumnName { get; }

    /// <summary>The class-probability column added.</summary>
    public string ScoreColumnName { get; }

    /// <summary>The predicted-key column added.</summary>
    public string PredictedLabelColumnName { get; }

    /// <summary>Texts (or pairs) are cut to <see cref="MaxLength"/> tokens.</summary>
    public int MaxLength { get; }

    /// <summary>Rows <c>Transform</c> reads ahead and scores together (<see cref="Gpt2TextClassifier.Options.ScoringBatchSize"/>).</summary>
    public int ScoringBatchSize { get; }

    /// <summary>How a saved zip stores the weights (<see cref="Gpt2ModelOptions.SavedWeightQuantization"/>); float32 when null.</summary>
    public OnnxWeightQuantization? SavedWeightQuantization { get; }

    /// <summary>Number of classes.</summary>
    public int ClassCount => _labels.Count;

    /// <summary>
    /// Number of parameters fine-tuning updated: the trainable layers', or the low-rank adapters' and the head's
    /// (the adapters are folded into <see cref="Model"/> since).
    /// </summary>
    public long TrainedParameterCount { get; }

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return _mapper.GetOutputSchema(inputSchema);
    }

    /// <inheritdoc />
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckInput(input.Schema);
        // The added columns as the row-by-row mapping describes them, annotations (slot names, key values) included.
        DataViewSchema output = _mapper.GetOutputSchema(input.Schema);
        DataViewSchema.Column score = output[ScoreColumnName], predicted = output[PredictedLabelColumnName];
        return new BatchMappedDataView<float[]>(input, Sentence2ColumnName is null ? [Sentence1ColumnName] : [Sentence1ColumnName, Sentence2ColumnName],
            [
                new AddedColumn<float[], VBuffer<float>>(score.Name, score.Type, CopyScore, score.Annotations),
                // The raw key: the class index plus one (0 would be a missing key).
                new AddedColumn<float[], uint>(predicted.Name, predicted.Type, (float[] probabilities, ref uint key) => key = (uint)PredictedIndex(probabilities) + 1,
                    predicted.Annotations),
            ],
            ScoreBatch, ScoringBatchSize);
    }

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return ((ITransformer)_mapper).GetRowToRowMapper(inputSchema);
    }

    /// <summary>Writes the ML.NET chain this model saves as: tokenization, the ONNX model and the key mapping.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        if (SavedModelSupport.WhyNotSaveable(Model.Transformer, Tokenizer) is string reason)
            throw new NotSupportedException($"This classifier cannot be saved in a model zip: {reason}.");
        string onnxPath = Path.Combine(Path.GetTempPath(), $"gpt2mlnet-{Guid.NewGuid():N}.onnx");
        try
        {
            ModelGate.Run(Model.Transformer, () =>
            {
                Gpt2OnnxExporter.Export(Model.Transformer, onnxPath, new Gpt2OnnxExportOptions
                {
                    ClassifierWeight = Model.HeadWeight,
                    ClassifierBias = Model.HeadBias,
                    WeightQuantization = SavedWeightQuantization,
                    MaxSequenceLength = MaxLength,
                });
                return true;
            });
            using var chain = (IDisposable)SavedClassifierChain.Fit(_mlContext, onnxPath, Tokenizer, _labels, Sentence1ColumnName, Sentence2ColumnName,
                MaxLength, ScoreColumnName, PredictedLabelColumnName);
            ((ICanSaveModel)chain).Save(ctx);
        }
        finally
        {
            File.Delete(onnxPath);
        }
    }

    /// <inheritdoc />
    public void Dispose() => Model.Dispose();

    private void Predict(TextRow input, PredictionRow output)
    {
        float[] probabilities = ScoreBatch([[input.Text, input.Text2]])[0];
        output.Score = probabilities;
        // A key field of a mapped object is written 0-based: ML.NET stores index + 1 in the key column (0 is missing).
        output.PredictedLabel = (uint)PredictedIndex(probabilities);
    }

    /// <summary>
    /// The class probabilities of a batch of rows (each the first text, and the second of a pair), in order. The rows run
    /// shortest first through <see cref="Gpt2SequenceClassifier.PredictProbabilities"/>, in right-padded forward passes of
    /// <see cref="RowsPerPass"/> rows, so that each row is padded to a length near its own: texts such as SMS messages run
    /// from 1 to 100 tokens and more, and one pass padded to the longest of 32 rows spends most of its work on padding.
    /// Causal attention keeps every row's last real token blind to the padding after it, so the order and the padding
    /// change no score.
    /// </summary>
    private float[][] ScoreBatch(IReadOnlyList<string?[]> rows)
    {
        int[][] ids = [.. rows.Select(row => Sentence2ColumnName is null
            ? Gpt2TextEncoding.Encode(Tokenizer, row[0], Sentence1ColumnName, MaxLength)
            : Gpt2TextEncoding.EncodePair(Tokenizer, row[0], row[1], Sentence1ColumnName, Sentence2ColumnName, MaxLength))];
        int[] shortestFirst = [.. Enumerable.Range(0, ids.Length).OrderBy(row => ids[row].Length)];
        // The model's lock (ModelGate), which every LanguageModelHost over the same model takes for its steps too.
        float[][] sorted = ModelGate.Run(Model.Transformer, () => Model.PredictProbabilities([.. shortestFirst.Select(row => ids[row])], RowsPerPass));
        var probabilities = new float[ids.Length][];
        for (int i = 0; i < shortestFirst.Length; i++)
            probabilities[shortestFirst[i]] = sorted[i];
        return probabilities;
    }

    /// <summary>Rows per forward pass of a scored batch: few enough that rows of similar lengths share a pass.</summary>
    private const int RowsPerPass = 8;

    /// <summary>The zero-based index of the most probable class (the first of equals).</summary>
    private static int PredictedIndex(float[] probabilities) => Array.IndexOf(probabilities, probabilities.Max());

    /// <summary>Copies the probabilities into the caller's buffer, so that a reused buffer never aliases a stored row.</summary>
    private static void CopyScore(float[] probabilities, ref VBuffer<float> value)
    {
        VBufferEditor<float> editor = VBufferEditor.Create(ref value, probabilities.Length);
        probabilities.CopyTo(editor.Values);
        value = editor.Commit();
    }

    private void CheckInput(DataViewSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        InputColumns.RequireText(schema, Sentence1ColumnName);
        if (Sentence2ColumnName is not null)
            InputColumns.RequireText(schema, Sentence2ColumnName);
        if (schema.GetColumnOrNull(LabelColumnName) is { } label && label.Type is KeyDataViewType key && (int)key.Count != ClassCount)
            throw new ArgumentException(
                $"Label column '{LabelColumnName}' has {key.Count} classes, but the model was trained on {ClassCount}; " +
                "map labels with the same MapValueToKey transformer as at training.");
    }
}
