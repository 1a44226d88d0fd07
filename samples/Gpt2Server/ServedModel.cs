using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Gpt2Server.Metrics;

namespace Gpt2Server;

/// <summary>What the endpoints share: the options, the generation service, the chat prompt format, the embedding generator and the classifier.</summary>
internal sealed class ServedModel : IDisposable
{
    private readonly bool _ownsService;

    public ServedModel(Gpt2ServerOptions options, Gpt2TextGenerationService? service)
    {
        Options = options;
        _ownsService = service is null;
        Service = service ?? Gpt2TextGenerationService.Load(LanguageModelSource.Pretrained(options.Model), device: null, options.Engine);
        Embeddings = new Gpt2EmbeddingGenerator(Service.Host, EmbeddingPooling.Mean, normalize: true, options.ModelId);
        try
        {
            Classifier = options.ClassifierPath is null ? null : new Gpt2ServerClassifier(options.ClassifierPath);
            Metrics = new ServerMetrics(ModelId, Service.Host, options.MaxQueue);
        }
        catch
        {
            if (_ownsService)
                Service.Dispose();
            throw;
        }
    }

    public Gpt2ServerOptions Options { get; }

    public Gpt2TextGenerationService Service { get; }

    public Gpt2ServerClassifier? Classifier { get; }

    /// <summary>What <c>/metrics</c> reports; each endpoint records its requests here (<see cref="ServerMetrics.RecordGeneration"/>).</summary>
    public ServerMetrics Metrics { get; }

    /// <summary>The format asked for, or the model's own chat template (raw text for a model without one).</summary>
    public ChatPromptFormat PromptFormat => field ??= Options.PromptFormat ?? ChatPromptFormat.FromTokenizer(Service.Tokenizer);

    public string ModelId => Options.ModelId;

    public int ContextLength => Service.Model.Config.ContextLength;

    /// <summary>How many token ids the model knows (<c>logit_bias</c> keys must be below it).</summary>
    public int VocabularySize => Service.Model.Config.VocabSize;

    /// <summary>When the server started, as the models list reports it.</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>
    /// The embedding generator over the service's host (mean of the final hidden states, unit length as OpenAI's
    /// embeddings are), so that embeddings and generations share the one model and its scheduler.
    /// </summary>
    public Gpt2EmbeddingGenerator Embeddings { get; }

    public void CheckModel(OpenAIRequest request) => CheckModel(request.Model);

    /// <summary>Refuses a request for another model as OpenAI and vLLM do: 404 <c>model_not_found</c>.</summary>
    public void CheckModel(string model)
    {
        if (model != ModelId)
            throw new OpenAIErrorException(404, $"The model '{model}' does not exist; this server serves '{ModelId}' (GET /v1/models lists it).", "model", "model_not_found");
    }

    public void Dispose()
    {
        Classifier?.Dispose();
        if (_ownsService)
            Service.Dispose();
    }
}
