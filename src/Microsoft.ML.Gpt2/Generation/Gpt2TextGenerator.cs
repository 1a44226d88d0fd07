namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// Writes the continuation of the prompt in one text column into another with a GPT-2 (published weights, a fine-tuned
/// checkpoint folder, a checkpoint of our trainer, or a model in memory); no training. Fitting loads the model; the
/// <see cref="Gpt2TextGenerationTransformer"/> generates in batches of rows with the key/value cache. Create it with
/// <c>mlContext.Transforms.Text.Gpt2TextGenerator(...)</c> or the constructor.
/// </summary>
public sealed class Gpt2TextGenerator : IEstimator<Gpt2TextGenerationTransformer>
{
    /// <summary>Options of <see cref="Gpt2TextGenerator"/>.</summary>
    public sealed class Options : Gpt2ModelOptions
    {
        /// <summary>The generated-text column to add: the continuation only, without the prompt and the end of text.</summary>
        public string OutputColumnName = "GeneratedText";

        /// <summary>The prompt column (text).</summary>
        public string InputColumnName = "Prompt";

        /// <summary>How to decode.</summary>
        public Gpt2GenerationOptions Generation { get; } = new();
    }

    private readonly MLContext _mlContext;
    private readonly Options _options;

    /// <summary>Creates the estimator in <paramref name="mlContext"/>, whose <c>CancelExecution</c> then stops generation.</summary>
    public Gpt2TextGenerator(MLContext mlContext, Options options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        options.Generation.Validate();
        _mlContext = mlContext.RegisterGpt2Components();
        _options = options;
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        TextGenerationSchema.Check(_mlContext, inputSchema, [_options.InputColumnName], _options.OutputColumnName);

    /// <summary>Loads the model; the data is only checked for the prompt column.</summary>
    public Gpt2TextGenerationTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        InputColumns.RequireText(input.Schema, _options.InputColumnName);
        new MLContextCancellation(_mlContext).ThrowIfCancelled(); // before loading a model in a context that can no longer fit
        return new Gpt2TextGenerationTransformer(_mlContext, TextGenerationEngine.Load(_mlContext, _options, _options.Generation),
            _options.InputColumnName, _options.OutputColumnName);
    }
}
