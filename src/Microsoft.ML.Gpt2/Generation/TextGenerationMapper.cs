using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Data;
using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// What the generating transformers share: one or two text columns become a prompt, the prompt's continuation becomes a
/// text column. <c>Transform</c> generates lazily in batches; a prediction engine generates row by row; saving writes
/// the model as ONNX Runtime's GreedySearch inside a chain of ML.NET's own transformers.
/// </summary>
internal sealed class TextGenerationMapper : IDisposable
{
    internal sealed class SourceRow
    {
        public string? First { get; set; }
        public string? Second { get; set; }
    }

    internal sealed class OutputRow
    {
        public string Text { get; set; } = "";
    }

    private readonly MLContext _mlContext;
    private readonly Func<string?[], string> _prompt;
    private readonly bool _trim;
    private readonly CustomMappingTransformer<SourceRow, OutputRow> _rowMapper;

    /// <param name="mlContext">The context to build ML.NET transformers in.</param>
    /// <param name="engine">The model and its decoding options.</param>
    /// <param name="sourceColumnNames">One or two text columns.</param>
    /// <param name="outputColumnName">The text column added.</param>
    /// <param name="prompt">The prompt made of a row's source values.</param>
    /// <param name="trim">Whether the added text is trimmed of white space.</param>
    public TextGenerationMapper(MLContext mlContext, TextGenerationEngine engine, string[] sourceColumnNames, string outputColumnName,
        Func<string?[], string> prompt, bool trim)
    {
        _mlContext = mlContext;
        Engine = engine;
        SourceColumnNames = sourceColumnNames;
        OutputColumnName = outputColumnName;
        _prompt = prompt;
        _trim = trim;
        _rowMapper = Mapping(mlContext, sourceColumnNames, outputColumnName, (source, output) =>
                output.Text = Generate([[source.First, source.Second]])[0], out SchemaDefinition input)
            .Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<SourceRow>(), input));
    }

    public TextGenerationEngine Engine { get; }

    public string[] SourceColumnNames { get; }

    public string OutputColumnName { get; }

    /// <summary>The in-memory mapping of the source columns to the added column.</summary>
    public static CustomMappingEstimator<SourceRow, OutputRow> Mapping(MLContext mlContext, string[] sourceColumnNames, string outputColumnName,
        Action<SourceRow, OutputRow> map, out SchemaDefinition input)
    {
        input = SourceSchema(sourceColumnNames);
        var output = SchemaDefinition.Create(typeof(OutputRow));
        output[nameof(OutputRow.Text)].ColumnName = outputColumnName;
        return mlContext.Transforms.CustomMapping(map, contractName: null, input, output);
    }

    /// <summary>The source columns as a schema definition of <see cref="SourceRow"/>.</summary>
    public static SchemaDefinition SourceSchema(string[] sourceColumnNames)
    {
        var input = SchemaDefinition.Create(typeof(SourceRow));
        input[nameof(SourceRow.First)].ColumnName = sourceColumnNames[0];
        if (sourceColumnNames.Length > 1)
            input[nameof(SourceRow.Second)].ColumnName = sourceColumnNames[1];
        else
            input.Remove(input[nameof(SourceRow.Second)]);
        return input;
    }

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return _rowMapper.GetOutputSchema(inputSchema);
    }

    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckInput(input.Schema);
        return new GeneratedTextDataView(input, SourceColumnNames, OutputColumnName, Generate, Engine.BatchSize);
    }

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return ((ITransformer)_rowMapper).GetRowToRowMapper(inputSchema);
    }

    /// <summary>Saves the ML.NET chain that reproduces this mapping: <paramref name="prompt"/>, tokenization, GreedySearch or Sampling, detokenization.</summary>
    /// <param name="ctx">The model-saving context.</param>
    /// <param name="prompt">Builds the prompt column <see cref="PromptToTokenIdsInput.PromptColumnName"/> from the source columns with ML.NET transformers.</param>
    public void Save(ModelSaveContext ctx, IEstimator<ITransformer> prompt)
    {
        if (Engine.WhyNotSaveable is string reason)
            throw new NotSupportedException(
                $"This GPT-2 generator cannot be saved: {reason}, and a saved model decodes inside ONNX Runtime. " +
                "Fit it without them to save it, or keep using it in memory.");
        string onnxPath = Path.Combine(Path.GetTempPath(), $"gpt2mlnet-{Guid.NewGuid():N}.onnx");
        try
        {
            Engine.ExportGenerator(onnxPath);
            using var chain = (IDisposable)SavedGeneratorChain.Fit(_mlContext, onnxPath, Engine.Tokenizer, Engine.Model.Config.ContextLength, prompt, SourceColumnNames, OutputColumnName, _trim);
            ((ICanSaveModel)chain).Save(ctx);
        }
        finally
        {
            File.Delete(onnxPath);
        }
    }

    public void Dispose() => Engine.Dispose();

    private string[] Generate(IReadOnlyList<string?[]> rows)
    {
        string[] continuations = Engine.Generate([.. rows.Select(_prompt)], SourceColumnNames[0]);
        return _trim ? [.. continuations.Select(text => text.Trim())] : continuations;
    }

    private void CheckInput(DataViewSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        foreach (string name in SourceColumnNames)
            InputColumns.RequireText(schema, name);
    }
}
