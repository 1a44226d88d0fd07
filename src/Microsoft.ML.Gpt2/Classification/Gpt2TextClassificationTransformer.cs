using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Classification;

/// <summary>
/// A fine-tuned GPT-2 text (or text-pair) classifier, fitted by <see cref="Gpt2TextClassifier"/>. It adds a class-probability vector
/// (<c>Score</c>) and the predicted key (<c>PredictedLabel</c>, with the training label's key values), computing them
/// with TorchSharp. <c>mlContext.Model.Save</c> stores it as an equivalent chain of ML.NET's own transformers
/// (tokenization, the model exported to ONNX, key mapping), which <c>mlContext.Model.Load</c> reads back and runs with
/// ONNX Runtime alone (no TorchSharp or libtorch needed).
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
    private readonly Lock _modelLock = new();

    internal Gpt2TextClassificationTransformer(MLContext mlContext, Gpt2SequenceClassifier model, ClassLabels labels,
        string[] sentenceColumnNames, string labelColumnName, string scoreColumnName, string predictedLabelColumnName, int maxLength, long trainedParameterCount)
    {
        _mlContext = mlContext;
        Model = model;
        TrainedParameterCount = trainedParameterCount;
        _labels = labels;
        Sentence1ColumnName = sentenceColumnNames[0];
        Sentence2ColumnName = sentenceColumnNames.Length > 1 ? sentenceColumnNames[1] : null;
        LabelColumnName = labelColumnName;
        ScoreColumnName = scoreColumnName;
        PredictedLabelColumnName = predictedLabelColumnName;
        MaxLength = maxLength;

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
        return _mapper.Transform(input);
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
        string onnxPath = Path.Combine(Path.GetTempPath(), $"gpt2mlnet-{Guid.NewGuid():N}.onnx");
        try
        {
            lock (_modelLock)
                Gpt2OnnxExporter.Export(Model.Transformer, onnxPath, new Gpt2OnnxExportOptions
                {
                    ClassifierWeight = Model.HeadWeight,
                    ClassifierBias = Model.HeadBias,
                    MaxSequenceLength = MaxLength,
                });
            using var chain = (IDisposable)SavedClassifierChain.Fit(_mlContext, onnxPath, _labels, Sentence1ColumnName, Sentence2ColumnName,
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
        int[] ids = Sentence2ColumnName is null
            ? Gpt2TextEncoding.Encode(input.Text, Sentence1ColumnName, MaxLength)
            : Gpt2TextEncoding.EncodePair(input.Text, input.Text2, Sentence1ColumnName, Sentence2ColumnName, MaxLength);
        float[] probabilities;
        lock (_modelLock)
            probabilities = Model.PredictProbabilities([ids])[0];
        output.Score = probabilities;
        // A key field of a mapped object is written 0-based: ML.NET stores index + 1 in the key column (0 is missing).
        output.PredictedLabel = (uint)Array.IndexOf(probabilities, probabilities.Max());
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
