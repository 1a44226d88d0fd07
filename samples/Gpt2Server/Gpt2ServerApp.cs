using Gpt2.Torch.Generation;
using Gpt2Server.Metrics;

namespace Gpt2Server;

/// <summary>
/// The OpenAI-compatible server: <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>, <c>POST /v1/responses</c>
/// (the Responses API: text, JSON formats and function calls; nothing stored), <c>POST /v1/embeddings</c>, <c>GET /v1/models</c>,
/// <c>GET /health</c>, <c>GET /metrics</c> (Prometheus, vLLM's names: <see cref="ServerMetrics"/>) and, with a classifier
/// zip, <c>POST /v1/classify</c>. Generation goes through one
/// <see cref="Gpt2TextGenerationService"/>, whose host decodes concurrent requests together in one running batch
/// (continuous batching) with the engine <c>--engine</c> names (by default the fastest for the device, which the server
/// prints at start and <c>/health</c> names);
/// <see cref="Gpt2ServerOptions.MaxQueue"/> bounds the requests admitted (running or waiting), more get 429;
/// <see cref="Gpt2ServerOptions.ApiKey"/> closes the <c>/v1</c> routes to requests without it. Both
/// generation endpoints read their sampling fields (OpenAI's and vLLM's) into <see cref="OpenAIRequest"/> and map them
/// with <see cref="Gpt2MLNet.AI.Gpt2ChatOptions"/>, the mapping the chat client uses, and return log-probabilities in
/// OpenAI's shapes when asked (<see cref="Wire.ChatCompletionLogprobs"/>, <see cref="Wire.TextCompletionLogprobs"/>).
/// </summary>
public static class Gpt2ServerApp
{
    /// <summary>The server for a command line (see <see cref="Gpt2ServerOptions.Usage"/>), ready to run.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="service">A service to generate with instead of loading <c>--model</c> (the caller keeps owning it).</param>
    public static WebApplication Build(string[] args, Gpt2TextGenerationService? service = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
        Gpt2ServerOptions options = Gpt2ServerOptions.From(builder.Configuration);
        if (builder.Configuration["urls"] is null)
            builder.WebHost.UseUrls(Gpt2ServerOptions.DefaultUrls);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes);
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownTimeout);

        var served = new ServedModel(options, service);
        WebApplication app;
        try
        {
            app = builder.Build();
        }
        catch
        {
            served.Dispose();
            throw;
        }
        app.Lifetime.ApplicationStopped.Register(served.Dispose);
        app.Lifetime.ApplicationStarted.Register(() => app.Logger.LogInformation("Serving '{Model}' ({Parameters:N0} parameters, context {Context}) on {Device} with the {Engine} engine",
            served.ModelId, served.Service.Model.ParameterCount, served.ContextLength, served.Service.Model.Device, served.Service.EngineName));
        app.UseStatusCodePages(pages => UnmatchedRequests.WriteErrorAsync(pages.HttpContext));
        if (options.ApiKey is { } apiKey)
            app.Use(new ApiKeyMiddleware(apiKey).InvokeAsync);
        var admission = new AdmissionControl(options.MaxQueue);
        app.MapPost("/v1/chat/completions", new ChatCompletionsEndpoint(served, admission).HandleAsync);
        app.MapPost("/v1/completions", new CompletionsEndpoint(served, admission).HandleAsync);
        app.MapPost("/v1/responses", new ResponsesEndpoint(served, admission).HandleAsync);
        app.MapPost("/v1/embeddings", new EmbeddingsEndpoint(served, admission).HandleAsync);
        app.MapGet("/v1/models", new ModelsEndpoint(served).HandleAsync);
        app.MapGet("/health", new HealthEndpoint(served, admission).HandleAsync);
        app.MapGet("/metrics", new MetricsEndpoint(served.Metrics).HandleAsync);
        if (served.Classifier is not null)
            app.MapPost("/v1/classify", new ClassifyEndpoint(served.Classifier).HandleAsync);
        return app;
    }
}
