using System.Text.Json;
using System.Text.Json.Nodes;
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// The OpenAI-compatible server: <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>, <c>GET /v1/models</c>,
/// <c>GET /health</c> and, with a classifier zip, <c>POST /v1/classify</c>. Generation goes through one
/// <see cref="Gpt2TextGenerationService"/> (chat through <see cref="Gpt2ChatClient"/> over it), with continuous batching
/// unless <c>--batching off</c>; <see cref="Gpt2ServerOptions.MaxQueue"/> bounds the requests admitted (running or
/// waiting), more get 429.
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

        var server = new Gpt2ServerEndpoints(options, service);
        WebApplication app;
        try
        {
            app = builder.Build();
        }
        catch
        {
            server.Dispose();
            throw;
        }
        app.Lifetime.ApplicationStopped.Register(server.Dispose);
        app.MapPost("/v1/chat/completions", (RequestDelegate)server.ChatAsync);
        app.MapPost("/v1/completions", (RequestDelegate)server.CompletionsAsync);
        app.MapGet("/v1/models", (RequestDelegate)server.ModelsAsync);
        app.MapGet("/health", (RequestDelegate)server.HealthAsync);
        if (server.Classifier is not null)
            app.MapPost("/v1/classify", (RequestDelegate)server.ClassifyAsync);
        return app;
    }
}

/// <summary>The endpoints' handlers and what they share: the model, the chat client, the admission count, the classifier.</summary>
internal sealed class Gpt2ServerEndpoints : IDisposable
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = false };
    private readonly Gpt2ServerOptions _options;
    private readonly Gpt2TextGenerationService _service;
    private readonly bool _ownsService;
    private readonly Gpt2ChatClient _chat;
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private int _admitted;

    public Gpt2ServerEndpoints(Gpt2ServerOptions options, Gpt2TextGenerationService? service)
    {
        _options = options;
        _ownsService = service is null;
        _service = service ?? Gpt2TextGenerationService.Load(Gpt2ModelSource.Pretrained(options.Model), device: null, options.ContinuousBatching, options.OnnxRuntime);
        try
        {
            _chat = new Gpt2ChatClient(_service, options.PromptFormat, options.ModelId);
            Classifier = options.ClassifierPath is null ? null : new Gpt2ServerClassifier(options.ClassifierPath);
        }
        catch
        {
            if (_ownsService)
                _service.Dispose();
            throw;
        }
    }

    public Gpt2ServerClassifier? Classifier { get; }

    private int ContextLength => _service.Model.Config.ContextLength;

    public Task ModelsAsync(HttpContext context) => WriteJsonAsync(context, 200, new JsonObject
    {
        ["object"] = "list",
        ["data"] = new JsonArray(new JsonObject
        {
            ["id"] = _options.ModelId,
            ["object"] = "model",
            ["created"] = _created,
            ["owned_by"] = Gpt2ChatClient.ProviderName,
            ["context_length"] = ContextLength,
        }),
    });

    public Task HealthAsync(HttpContext context) => WriteJsonAsync(context, 200, new JsonObject
    {
        ["status"] = "ok",
        ["model"] = _options.ModelId,
        ["admitted"] = Volatile.Read(ref _admitted),
        ["max_queue"] = _options.MaxQueue,
        ["engine"] = _service.UsesOnnxRuntime ? "onnxruntime" : "torchsharp",
        ["continuous_batching"] = _service.ContinuousBatching,
        ["peak_batch_size"] = _service.PeakContinuousBatchSize,
        ["classifier"] = Classifier is not null,
    });

    public Task ChatAsync(HttpContext context) => HandleAsync(context, async body =>
    {
        OpenAIRequest request = OpenAIRequest.Read(body, chat: true);
        CheckModel(request);
        IReadOnlyList<ChatMessage> messages = request.Messages();
        string prompt;
        try
        {
            prompt = _chat.Format.Render(messages);
        }
        catch (ArgumentException e)
        {
            throw new OpenAIErrorException(400, e.Message, "messages");
        }
        int maxTokens = CheckLength(prompt, request.MaxTokens, Math.Min(Gpt2ChatClient.DefaultMaxOutputTokens, ContextLength - 1), "messages");
        var chatOptions = new ChatOptions
        {
            MaxOutputTokens = maxTokens,
            Temperature = (float?)request.Temperature,
            TopP = (float?)request.TopP,
            StopSequences = request.Stop.Count > 0 ? [.. request.Stop] : null,
            Seed = request.Seed,
        };
        using var admission = Admit();
        CancellationToken aborted = context.RequestAborted;
        string id = $"chatcmpl-{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (!request.Stream)
        {
            ChatResponse response = await _chat.GetResponseAsync(messages, chatOptions, aborted);
            await WriteJsonAsync(context, 200, new JsonObject
            {
                ["id"] = id,
                ["object"] = "chat.completion",
                ["created"] = created,
                ["model"] = _options.ModelId,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = response.Text },
                    ["logprobs"] = null,
                    ["finish_reason"] = FinishReason(response.FinishReason),
                }),
                ["usage"] = Usage(response.Usage!),
            });
            return;
        }

        JsonObject Chunk(JsonObject delta, string? finishReason) => new()
        {
            ["id"] = id,
            ["object"] = "chat.completion.chunk",
            ["created"] = created,
            ["model"] = _options.ModelId,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finishReason }),
        };
        IAsyncEnumerable<ChatResponseUpdate> updates = _chat.GetStreamingResponseAsync(messages, chatOptions, aborted);
        await StartEventsAsync(context);
        await WriteEventAsync(context, Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null));
        await foreach (ChatResponseUpdate update in updates.WithCancellation(aborted))
        {
            if (update.Text.Length > 0)
                await WriteEventAsync(context, Chunk(new JsonObject { ["content"] = update.Text }, null));
            if (update.FinishReason is ChatFinishReason reason)
            {
                await WriteEventAsync(context, Chunk(new JsonObject(), FinishReason(reason)));
                UsageDetails usage = update.Contents.OfType<UsageContent>().Single().Details;
                if (request.IncludeUsage)
                    await WriteEventAsync(context, new JsonObject
                    {
                        ["id"] = id,
                        ["object"] = "chat.completion.chunk",
                        ["created"] = created,
                        ["model"] = _options.ModelId,
                        ["choices"] = new JsonArray(),
                        ["usage"] = Usage(usage),
                    });
            }
        }
        await WriteDoneAsync(context);
    });

    public Task CompletionsAsync(HttpContext context) => HandleAsync(context, async body =>
    {
        OpenAIRequest request = OpenAIRequest.Read(body, chat: false);
        CheckModel(request);
        string prompt = request.Prompt();
        int maxTokens = CheckLength(prompt, request.MaxTokens, Math.Min(16, ContextLength - 1), "prompt");
        var textOptions = new TextGenerationOptions
        {
            MaxNewTokens = maxTokens,
            Temperature = request.Temperature ?? 0,
            TopP = request.TopP,
            StopStrings = request.Stop,
            Seed = request.Seed,
        };
        using var admission = Admit();
        CancellationToken aborted = context.RequestAborted;
        string id = $"cmpl-{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        JsonObject Completion(string text, string? finishReason) => new()
        {
            ["id"] = id,
            ["object"] = "text_completion",
            ["created"] = created,
            ["model"] = _options.ModelId,
            ["choices"] = new JsonArray(new JsonObject { ["text"] = text, ["index"] = 0, ["logprobs"] = null, ["finish_reason"] = finishReason }),
        };
        if (!request.Stream)
        {
            TextGenerationResult result = await _service.GenerateAsync(prompt, textOptions, aborted);
            JsonObject completion = Completion(result.Text, FinishReason(result));
            completion["usage"] = Usage(result);
            await WriteJsonAsync(context, 200, completion);
            return;
        }

        TextGenerationStream stream = _service.GenerateStreamingAsync(prompt, textOptions, aborted);
        await StartEventsAsync(context);
        await foreach (string piece in stream.WithCancellation(aborted))
            await WriteEventAsync(context, Completion(piece, null));
        TextGenerationResult final = stream.Result!;
        await WriteEventAsync(context, Completion("", FinishReason(final)));
        if (request.IncludeUsage)
        {
            JsonObject usage = Completion("", null);
            usage["choices"] = new JsonArray();
            usage["usage"] = Usage(final);
            await WriteEventAsync(context, usage);
        }
        await WriteDoneAsync(context);
    });

    public Task ClassifyAsync(HttpContext context) => HandleAsync(context, async body =>
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("texts", out JsonElement texts) || texts.ValueKind != JsonValueKind.Array
            || texts.GetArrayLength() == 0 || texts.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String))
            throw new OpenAIErrorException(400, "'texts' is required: a non-empty array of strings.", "texts");
        if (texts.GetArrayLength() > Gpt2ServerClassifier.MaxTexts)
            throw new OpenAIErrorException(400, $"At most {Gpt2ServerClassifier.MaxTexts} texts per request.", "texts", "invalid_value");
        string[] inputs = [.. texts.EnumerateArray().Select(t => t.GetString()!)];
        JsonArray data = [];
        for (int i = 0; i < inputs.Length; i++)
        {
            context.RequestAborted.ThrowIfCancellationRequested();
            (string label, IReadOnlyList<(string Label, float Probability)> probabilities) = Classifier!.Classify(inputs[i]);
            var byLabel = new JsonObject();
            foreach ((string name, float p) in probabilities)
                byLabel[name] = p;
            data.Add(new JsonObject { ["index"] = i, ["label"] = label, ["probabilities"] = byLabel });
        }
        await WriteJsonAsync(context, 200, new JsonObject { ["object"] = "list", ["data"] = data });
    });

    public void Dispose()
    {
        Classifier?.Dispose();
        _chat.Dispose();
        if (_ownsService)
            _service.Dispose();
    }

    private void CheckModel(OpenAIRequest request)
    {
        if (request.Model != _options.ModelId)
            throw new OpenAIErrorException(400, $"The model '{request.Model}' does not exist; this server serves '{_options.ModelId}'.", "model", "model_not_found");
    }

    // The prompt must fit the context with the tokens asked for (the service would otherwise drop its start silently).
    private int CheckLength(string prompt, int? requested, int fallback, string param)
    {
        int promptTokens = _service.Tokenizer.Encode(prompt).Length;
        int room = ContextLength - promptTokens;
        if (requested is int asked)
        {
            if (asked > room)
                throw new OpenAIErrorException(400,
                    $"This model's maximum context length is {ContextLength} tokens. However, you requested {promptTokens + asked} tokens " +
                    $"({promptTokens} in the {param}, {asked} for the completion). Please reduce the length of the {param} or the completion.",
                    param, "context_length_exceeded");
            return asked;
        }
        if (room < 1)
            throw new OpenAIErrorException(400,
                $"This model's maximum context length is {ContextLength} tokens, and the {param} takes {promptTokens}, leaving no room for a completion.",
                param, "context_length_exceeded");
        return Math.Min(fallback, room);
    }

    private Admission Admit()
    {
        if (Interlocked.Increment(ref _admitted) > _options.MaxQueue)
        {
            Interlocked.Decrement(ref _admitted);
            throw new OpenAIErrorException(429, $"The server is busy: {_options.MaxQueue} requests are already running or waiting. Retry shortly.",
                code: "rate_limit_exceeded", type: "rate_limit_error");
        }
        return new Admission(this);
    }

    private sealed class Admission(Gpt2ServerEndpoints owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                Interlocked.Decrement(ref owner._admitted);
        }
    }

    // Reads the body as JSON, runs the handler, and turns refusals and failures into OpenAI error JSON.
    private static async Task HandleAsync(HttpContext context, Func<JsonElement, Task> handler)
    {
        try
        {
            JsonDocument document;
            try
            {
                document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            }
            catch (JsonException e)
            {
                throw new OpenAIErrorException(400, $"The request body is not valid JSON: {e.Message}", code: "invalid_json");
            }
            using (document)
                await handler(document.RootElement);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteErrorAsync(context, new OpenAIErrorException(413, $"The request body is larger than the server's limit: {e.Message}", code: "request_too_large"));
        }
        catch (OpenAIErrorException e)
        {
            await WriteErrorAsync(context, e);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            await WriteErrorAsync(context, new OpenAIErrorException(400, e.Message));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; generation stopped at the next token.
        }
        catch (Exception e)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Gpt2Server").LogError(e, "Request failed");
            await WriteErrorAsync(context, new OpenAIErrorException(500, $"The server failed: {e.Message}", type: "server_error"));
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, OpenAIErrorException error)
    {
        var json = new JsonObject
        {
            ["error"] = new JsonObject { ["message"] = error.Message, ["type"] = error.Type, ["param"] = error.Param, ["code"] = error.Code },
        };
        if (context.Response.HasStarted)
        {
            // A stream already under way: the error becomes its last event.
            if (!context.RequestAborted.IsCancellationRequested)
                await WriteEventAsync(context, json);
            return;
        }
        if (error.Status == 429)
            context.Response.Headers.RetryAfter = "1";
        await WriteJsonAsync(context, error.Status, json);
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, JsonObject json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(json.ToJsonString(s_json));
    }

    private static async Task StartEventsAsync(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.StartAsync();
    }

    private static async Task WriteEventAsync(HttpContext context, JsonObject json)
    {
        await context.Response.WriteAsync($"data: {json.ToJsonString(s_json)}\n\n");
        await context.Response.Body.FlushAsync();
    }

    private static async Task WriteDoneAsync(HttpContext context)
    {
        await context.Response.WriteAsync("data: [DONE]\n\n");
        await context.Response.Body.FlushAsync();
    }

    private static string FinishReason(ChatFinishReason? reason) => reason == ChatFinishReason.Length ? "length" : "stop";

    private static string FinishReason(TextGenerationResult result) => result.FinishReason == TextGenerationFinishReason.Length ? "length" : "stop";

    private static JsonObject Usage(UsageDetails usage) => new()
    {
        ["prompt_tokens"] = usage.InputTokenCount,
        ["completion_tokens"] = usage.OutputTokenCount,
        ["total_tokens"] = usage.TotalTokenCount,
    };

    private static JsonObject Usage(TextGenerationResult result) => new()
    {
        ["prompt_tokens"] = result.PromptTokenCount,
        ["completion_tokens"] = result.CompletionTokenCount,
        ["total_tokens"] = result.PromptTokenCount + result.CompletionTokenCount,
    };
}
