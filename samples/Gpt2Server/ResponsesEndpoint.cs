using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Gpt2Server.Wire;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// <c>POST /v1/responses</c>, OpenAI's Responses API for text: <c>instructions</c> and <c>input</c> rendered with the
/// served prompt format and the sampling fields mapped as on <c>/v1/chat/completions</c> (greedy unless a temperature
/// is sent) and <c>text.format</c> constraining decoding as chat's <c>response_format</c> does, answered whole or
/// streamed as typed events (<c>response.created</c> ... <c>response.completed</c>).
/// Nothing is stored: a request with <c>store: true</c> is answered (echoing <c>store: false</c>, as vLLM does without
/// its store), and one that needs a stored response (<c>previous_response_id</c>) is refused.
/// </summary>
internal sealed class ResponsesEndpoint(ServedModel served, AdmissionControl admission)
{
    // OpenAI's limit on metadata pairs.
    private const int MaxMetadata = 16;

    public Task HandleAsync(HttpContext context) => JsonEndpoint.HandleAsync(context, body => AnswerAsync(context, body));

    private async Task AnswerAsync(HttpContext context, JsonElement body)
    {
        OpenAIRequest request = OpenAIRequest.ReadResponses(body);
        served.CheckModel(request);
        ResponsesInput input = ResponsesInput.Read(body);
        IReadOnlyDictionary<string, string> metadata = Metadata(body);
        if (body.TryGetProperty("store", out JsonElement store) && store.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
            throw new OpenAIErrorException(400, "store must be true or false.", "store", "invalid_type");
        string? user = body.TryGetProperty("user", out JsonElement u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        string prompt;
        try
        {
            prompt = served.PromptFormat.Render(input.Messages, input.Instructions);
        }
        catch (ArgumentException e)
        {
            throw new OpenAIErrorException(400, e.Message, "input");
        }
        PromptBudget budget = PromptBudget.For(served.Service, prompt, request.MaxTokens,
            Math.Min(Gpt2ChatClient.DefaultMaxOutputTokens, served.ContextLength - 1), "input", served.PromptFormat.RendersSpecialTokens);
        GenerationOptions options = Constrained(request, budget.MaxTokens);
        using IDisposable place = admission.Admit();
        CancellationToken aborted = context.RequestAborted;
        string id = $"resp_{Guid.NewGuid():N}", messageId = $"msg_{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        ResponseTextConfig textConfig = ResponseTextConfig.Of(request.ResponseFormat);
        ResponseObject Response(string status, IReadOnlyList<ResponseOutputMessage> output, TextGenerationResult? result) => new(
            id, created, status, status == "incomplete" ? new ResponseIncompleteDetails("max_output_tokens") : null, input.Instructions, request.MaxTokens,
            served.ModelId, output, options.Temperature, options.TopP ?? 1, metadata, user, textConfig, result is null ? null : ResponseUsage.Of(result));

        if (!request.Stream)
        {
            TextGenerationResult result = await served.Service.GenerateAsync(budget.PromptTokens, options, aborted);
            string status = Status(result);
            await JsonResponses.WriteAsync(context, 200, Response(status, [new ResponseOutputMessage(messageId, status, [new ResponseOutputText(result.Text)])], result),
                Gpt2ServerJsonContext.Default.ResponseObject);
            return;
        }

        TextGenerationStream stream = served.Service.GenerateStreamingAsync(budget.PromptTokens, options, aborted);
        int sequence = 0;
        Task Lifecycle(string type, ResponseObject response) =>
            ServerSentEvents.WriteEventAsync(context, type, new ResponseLifecycleEvent(type, sequence++, response), Gpt2ServerJsonContext.Default.ResponseLifecycleEvent);
        Task Item(string type, ResponseOutputMessage item) =>
            ServerSentEvents.WriteEventAsync(context, type, new ResponseOutputItemEvent(type, sequence++, 0, item), Gpt2ServerJsonContext.Default.ResponseOutputItemEvent);
        Task Part(string type, ResponseOutputText part) =>
            ServerSentEvents.WriteEventAsync(context, type, new ResponseContentPartEvent(type, sequence++, messageId, 0, 0, part), Gpt2ServerJsonContext.Default.ResponseContentPartEvent);

        await ServerSentEvents.StartAsync(context);
        await Lifecycle("response.created", Response("in_progress", [], null));
        await Lifecycle("response.in_progress", Response("in_progress", [], null));
        await Item("response.output_item.added", new ResponseOutputMessage(messageId, "in_progress", []));
        await Part("response.content_part.added", new ResponseOutputText(""));
        await foreach (TextGenerationUpdate update in stream.Updates.WithCancellation(aborted))
        {
            if (update.Text.Length > 0)
                await ServerSentEvents.WriteEventAsync(context, "response.output_text.delta", new ResponseTextDeltaEvent(sequence++, messageId, 0, 0, update.Text),
                    Gpt2ServerJsonContext.Default.ResponseTextDeltaEvent);
        }
        TextGenerationResult final = stream.Result!;
        string finalStatus = Status(final);
        var text = new ResponseOutputText(final.Text);
        var message = new ResponseOutputMessage(messageId, finalStatus, [text]);
        await ServerSentEvents.WriteEventAsync(context, "response.output_text.done", new ResponseTextDoneEvent(sequence++, messageId, 0, 0, final.Text),
            Gpt2ServerJsonContext.Default.ResponseTextDoneEvent);
        await Part("response.content_part.done", text);
        await Item("response.output_item.done", message);
        await Lifecycle(finalStatus == "completed" ? "response.completed" : "response.incomplete", Response(finalStatus, [message], final));
    }

    // The request's options through the chat client's mapping; a text.format the constraint cannot honour (an
    // unsupported schema) is refused naming the field, as the chat endpoint refuses its response_format.
    private GenerationOptions Constrained(OpenAIRequest request, int maxTokens)
    {
        try
        {
            GenerationOptions options = request.GenerationOptions(maxTokens);
            options.Validate(served.ContextLength);
            return options;
        }
        catch (Exception e) when ((e is ArgumentException or NotSupportedException) && request.ResponseFormat is ChatResponseFormatJson)
        {
            throw new OpenAIErrorException(400, e.Message, "text.format", "invalid_value");
        }
    }

    // The Responses API has no stop strings: the text ends at the end-of-text token (completed) or at the token limit.
    private static string Status(TextGenerationResult result) => result.FinishReason == TextGenerationFinishReason.Length ? "incomplete" : "completed";

    private static IReadOnlyDictionary<string, string> Metadata(JsonElement body)
    {
        var metadata = new Dictionary<string, string>();
        if (!body.TryGetProperty("metadata", out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            return metadata;
        if (value.ValueKind != JsonValueKind.Object)
            throw new OpenAIErrorException(400, "metadata must be an object of string values.", "metadata", "invalid_type");
        foreach (JsonProperty pair in value.EnumerateObject())
            metadata[pair.Name] = pair.Value.ValueKind == JsonValueKind.String ? pair.Value.GetString()!
                : throw new OpenAIErrorException(400, $"metadata[\"{pair.Name}\"] must be a string.", "metadata", "invalid_type");
        return metadata.Count <= MaxMetadata ? metadata
            : throw new OpenAIErrorException(400, $"metadata has {metadata.Count} pairs; at most {MaxMetadata}.", "metadata", "invalid_value");
    }
}
