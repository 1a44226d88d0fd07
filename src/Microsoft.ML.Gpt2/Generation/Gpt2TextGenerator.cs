using Gpt2.Torch.Model;

namespace Microsoft.ML.Gpt2.Generation;

/// <summary>
/// Writes the continuation of the prompt in one text column into another with a GPT-2 (published weights, a fine-tuned
/// checkpoint folder, or a checkpoint of our trainer); no training. Fitting loads the model; the
/// <see cref="Gpt2TextGenerationTransformer"/> generates in batches of rows with the key/value cache. Create it with
/// <c>mlContext.Transforms.Text.Gpt2TextGenerator(...)</c> or the constructor.
/// </summary>
public sealed class Gpt2TextGenerator : IEstimator<Gpt2TextGenerationTransformer>
{
    /// <summary>Options of <see cref="Gpt2TextGenerator"/>.</summary>
    public sealed class Options : Gpt2GenerationOptions
    {
        /// <summary>The prompt column (text).</summary>
        public string InputColumnName = "Prompt";

        /// <summary>The generated-text column to add: the continuation only, without the prompt and the end of text.</summary>
        public string OutputColumnName = "GeneratedText";

        /// <summary>An in-memory model to generate with instead of loading <see cref="Gpt2GenerationOptions.BaseModel"/>; the transformer then owns it.</summary>
        public Gpt2Model? Model;
    }

    private readonly MLContext _mlContext;
    private readonly Options _options;

    /// <summary>Creates the estimator in <paramref name="mlContext"/>, whose <c>CancelExecution</c> then stops generation.</summary>
    public Gpt2TextGenerator(MLContext mlContext, Options options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
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
        TextGenerationEngine engine = _options.CreateEngine(_mlContext, _options.Model);
        using var owned = new DisposeUnlessReturned(_options.Model is null ? engine : null); // frees a model loaded here if Fit fails
        return owned.Return(new Gpt2TextGenerationTransformer(_mlContext, engine, _options.InputColumnName, _options.OutputColumnName));
    }
}
