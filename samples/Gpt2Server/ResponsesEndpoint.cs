using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Gpt2Server.Wire;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// <c>POST /v1/responses</c>, OpenAI's Responses API for text: <c>instructions</c> and <c>input</c> rendered with the
/// served prompt format and the sampling fields mapped as on <c>/v1/chat/completions</c> (greedy unless a temperature
/// is sent), <c>text.format</c> constraining decoding as chat's <c>response_format</c> does, and function tools as on
/// chat (for a model whose template renders them; calls read by <see cref="ToolCallReader"/> become
/// <c>function_call</c> items), answered whole or streamed as typed events (<c>response.created</c> ...
/// <c>response.completed</c>, see <see cref="ResponseEventWriter"/>).
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
        ChatPrompt.CheckTools(served, request);
        ResponsesInput input = ResponsesInput.Read(body, served.PromptFormat.RendersTools);
        IReadOnlyDictionary<string, string> metadata = Metadata(body);
        if (body.TryGetProperty("store", out JsonElement store) && store.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
            throw new OpenAIErrorException(400, "store must be true or false.", "store", "invalid_type");
        string? user = body.TryGetProperty("user", out JsonElement u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        (PromptBudget budget, GenerationOptions options) = ChatPrompt.Prepare(served, request, input.Messages, input.Instructions, "input", "text.format");
        using IDisposable place = admission.Admit();
        CancellationToken aborted = context.RequestAborted;
        string id = $"resp_{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        ResponseTextConfig textConfig = ResponseTextConfig.Of(request.ResponseFormat);
        JsonElement tools = body.TryGetProperty("tools", out JsonElement t) && t.ValueKind == JsonValueKind.Array ? t : EmptyArray.RootElement;
        JsonElement toolChoice = body.TryGetProperty("tool_choice", out JsonElement c) && c.ValueKind != JsonValueKind.Null ? c
            : tools.GetArrayLength() > 0 ? Auto.RootElement : None.RootElement;
        ResponseObject Response(string status, IReadOnlyList<object> output, TextGenerationResult? result) => new(
            id, created, status, status == "incomplete" ? new ResponseIncompleteDetails("max_output_tokens") : null, input.Instructions, request.MaxTokens,
            served.ModelId, output, options.Temperature, options.TopP ?? 1, metadata, user, textConfig, tools, toolChoice, request.ParallelToolCalls ?? true,
            result is null ? null : ResponseUsage.Of(result));

        if (!request.Stream)
        {
            TextGenerationResult result = await served.Service.GenerateAsync(budget.PromptTokens, options, aborted);
            served.Metrics.RecordGeneration(result);
            string status = Status(result);
            IList<AIContent> contents = request.ToolsOffered ? ToolCallReader.ReadAll(result.Text, served.PromptFormat, request.ParallelToolCalls ?? true) : [new TextContent(result.Text)];
            string text = string.Concat(contents.OfType<TextContent>().Select(part => part.Text));
            FunctionCallContent[] calls = [.. contents.OfType<FunctionCallContent>()];
            List<object> output = text.Length > 0 || calls.Length == 0 ? [new ResponseOutputMessage(NewId("msg"), status, [new ResponseOutputText(text)])] : [];
            output.AddRange(calls.Select(call => new ResponseFunctionCall(NewId("fc"), call.CallId, call.Name, Arguments(call), "completed")));
            await JsonResponses.WriteAsync(context, 200, Response(status, output, result), Gpt2ServerJsonContext.Default.ResponseObject);
            return;
        }

        TextGenerationStream stream = served.Service.GenerateStreamingAsync(budget.PromptTokens, options, aborted);
        var events = new ResponseEventWriter(context);
        await ServerSentEvents.StartAsync(context);
        await events.LifecycleAsync("response.created", Response("in_progress", [], null));
        await events.LifecycleAsync("response.in_progress", Response("in_progress", [], null));
        // With tools offered, a call is sent whole when it is complete, and a message item opens only for text;
        // without, the one message opens at once, as OpenAI's does.
        ToolCallReader? reader = request.ToolsOffered ? new ToolCallReader(served.PromptFormat, request.ParallelToolCalls ?? true) : null;
        if (reader is null)
            await events.OpenMessageAsync();
        await foreach (TextGenerationUpdate update in stream.Updates.WithCancellation(aborted))
        {
            if (reader is null)
            {
                if (update.Text.Length > 0)
                    await events.TextAsync(update.Text);
            }
            else
                await events.ContentsAsync(reader.Append(update.Text));
        }
        if (reader is not null)
            await events.ContentsAsync(reader.Complete());
        TextGenerationResult final = stream.Result!;
        served.Metrics.RecordGeneration(final);
        string finalStatus = Status(final);
        IReadOnlyList<object> items = await events.CompleteAsync(finalStatus);
        await events.LifecycleAsync(finalStatus == "completed" ? "response.completed" : "response.incomplete", Response(finalStatus, items, final));
    }

    private static readonly JsonDocument EmptyArray = JsonDocument.Parse("[]"), Auto = JsonDocument.Parse("\"auto\""), None = JsonDocument.Parse("\"none\"");

    internal static string NewId(string prefix) => $"{prefix}_{Guid.NewGuid():N}";

    /// <summary>A call's arguments as the JSON string OpenAI sends.</summary>
    internal static string Arguments(FunctionCallContent call) => ChatCompletionToolCall.Of(call).Function.Arguments;

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
