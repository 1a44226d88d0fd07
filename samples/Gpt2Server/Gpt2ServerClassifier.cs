using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Gpt2Server;

/// <summary>
/// An ML.NET text classifier zip (for example one fitted with <c>MulticlassClassification.Trainers.Gpt2</c>) behind
/// <c>POST /v1/classify</c>: loaded once with <c>Model.Load</c>, predicting through a pool of prediction engines, so
/// that concurrent requests each use their own engine (a <see cref="PredictionEngine{TSrc,TDst}"/> is not thread-safe).
/// </summary>
/// <remarks>
/// The server feeds one text column (named <c>Text</c>, or the only text column besides <c>Label</c>; a text
/// <c>Label</c> column, which a pipeline that starts with <c>MapValueToKey("Label")</c> keeps, is fed empty; a zip that
/// needs other input columns fails at startup), and the zip's output must hold
/// a <c>Score</c> vector; the labels are the <c>Score</c> column's slot names, else the key values of a
/// <c>PredictedLabel</c> key column along the chain, else the class indexes.
/// </remarks>
public sealed class Gpt2ServerClassifier : IDisposable
{
    /// <summary>Most texts one request may classify.</summary>
    public const int MaxTexts = 256;

    private readonly ObjectPool<PredictionEngine<Input, Output>> _engines;
    private readonly string[] _labels;

    /// <summary>Loads the zip at <paramref name="path"/>; throws <see cref="InvalidOperationException"/> naming what the zip lacks.</summary>
    public Gpt2ServerClassifier(string path)
    {
        var mlContext = new MLContext();
        ITransformer model = mlContext.Model.Load(path, out DataViewSchema input);
        string textColumn = TextColumn(input, path);
        SchemaDefinition definition = SchemaDefinition.Create(typeof(Input));
        definition[nameof(Input.Text)].ColumnName = textColumn;
        bool hasLabel = textColumn != "Label" && input.GetColumnOrNull("Label") is { Type: TextDataViewType };
        if (!hasLabel)
            definition.Remove(definition[nameof(Input.Label)]);

        DataViewSchema output = model.GetOutputSchema(input);
        if (output.GetColumnOrNull("Score") is not { Type: VectorDataViewType { ItemType: NumberDataViewType, Size: > 0 } scoreType } score)
            throw new InvalidOperationException($"The classifier '{path}' has no Score vector column; save a multiclass classifier.");
        VBuffer<ReadOnlyMemory<char>> names = default;
        if (score.HasSlotNames())
            score.GetSlotNames(ref names);
        _labels = names.Length == scoreType.Size ? [.. names.DenseValues().Select(n => n.ToString())]
            : KeyValues(model, input, scoreType.Size)
            ?? [.. Enumerable.Range(0, scoreType.Size).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        _engines = new DefaultObjectPool<PredictionEngine<Input, Output>>(
            new EnginePolicy(() => mlContext.Model.CreatePredictionEngine<Input, Output>(model, inputSchemaDefinition: definition)),
            Environment.ProcessorCount * 2);
        // One engine now, so that a zip needing input columns the server does not feed fails at startup, not at the first request.
        _engines.Return(_engines.Get());
    }

    /// <summary>The classes, in the order of the scores.</summary>
    public IReadOnlyList<string> Labels => _labels;

    /// <summary>The most likely label of <paramref name="text"/> and every label's probability.</summary>
    public (string Label, IReadOnlyList<(string Label, float Probability)> Probabilities) Classify(string text)
    {
        PredictionEngine<Input, Output> engine = _engines.Get();
        float[] scores;
        try
        {
            scores = engine.Predict(new Input { Text = text }).Score;
        }
        finally
        {
            _engines.Return(engine);
        }
        int best = 0;
        for (int i = 1; i < scores.Length; i++)
        {
            if (scores[i] > scores[best])
                best = i;
        }
        return (_labels[best], [.. _labels.Select((label, i) => (label, scores[i]))]);
    }

    /// <summary>Disposes the pooled engines.</summary>
    public void Dispose() => (_engines as IDisposable)?.Dispose();

    // The label names of a PredictedLabel key column anywhere along the chain (a trailing MapKeyToValue turns it into
    // text and drops them from the final schema).
    private static string[]? KeyValues(ITransformer model, DataViewSchema schema, int size)
    {
        string[]? found = null;
        foreach (ITransformer step in Steps(model))
        {
            schema = step.GetOutputSchema(schema);
            if (schema.GetColumnOrNull("PredictedLabel") is { Type: KeyDataViewType } key
                && key.Annotations.Schema.GetColumnOrNull("KeyValues") is { Type: VectorDataViewType { ItemType: TextDataViewType } })
            {
                VBuffer<ReadOnlyMemory<char>> values = default;
                key.GetKeyValues(ref values);
                if (values.Length == size)
                    found = [.. values.DenseValues().Select(v => v.ToString())];
            }
        }
        return found;
    }

    private static IEnumerable<ITransformer> Steps(ITransformer model) =>
        model is IEnumerable<ITransformer> chain ? chain.SelectMany(Steps) : [model];

    private static string TextColumn(DataViewSchema input, string path)
    {
        if (input.GetColumnOrNull("Text") is { Type: TextDataViewType })
            return "Text";
        string[] texts = [.. input.Where(c => c.Type is TextDataViewType && c.Name != "Label").Select(c => c.Name)];
        return texts.Length == 1 ? texts[0]
            : throw new InvalidOperationException($"The classifier '{path}' needs one text input column (named Text, or the only one besides Label); it has [{string.Join(", ", input.Select(c => c.Name))}].");
    }

    /// <summary>A row in: the text (renamed to the zip's column) and an empty label.</summary>
    public sealed class Input
    {
        /// <summary>The text to classify.</summary>
        public string Text { get; set; } = "";

        /// <summary>Fed empty when the zip keeps a label column.</summary>
        public string Label { get; set; } = "";
    }

    /// <summary>A row out: the class probabilities.</summary>
    public sealed class Output
    {
        /// <summary>One probability per class.</summary>
        public float[] Score { get; set; } = [];
    }

    private sealed class EnginePolicy(Func<PredictionEngine<Input, Output>> create) : PooledObjectPolicy<PredictionEngine<Input, Output>>
    {
        public override PredictionEngine<Input, Output> Create() => create();

        public override bool Return(PredictionEngine<Input, Output> obj) => true;
    }
}
