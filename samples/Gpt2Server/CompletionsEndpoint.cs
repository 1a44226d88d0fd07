using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2Server.Wire;

namespace Gpt2Server;

/// <summary>
/// <c>POST /v1/completions</c>: the prompt continued as it is (tokenized once and checked against the context), whole
/// or streamed as <c>text_completion</c> events.
/// </summary>
internal sealed class CompletionsEndpoint(ServedModel served, AdmissionControl admission)
{
    // OpenAI's default max_tokens for completions.
    private const int DefaultMaxTokens = 16;

    public Task HandleAsync(HttpContext context) => JsonEndpoint.HandleAsync(context, body => AnswerAsync(context, body));

    private async Task AnswerAsync(HttpContext context, JsonElement body)
    {
        OpenAIRequest request = OpenAIRequest.Read(body, chat: false);
        served.CheckModel(request);
        PromptBudget budget = PromptBudget.For(served.Service, request.Prompt(), request.MaxTokens,
            Math.Min(DefaultMaxTokens, served.ContextLength - 1), "prompt");
        GenerationOptions options = request.GenerationOptions(budget.MaxTokens);
        using IDisposable place = admission.Admit();
        CancellationToken aborted = context.RequestAborted;
        string id = $"cmpl-{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        TextCompletion Completion(string text, string? finishReason, Usage? usage = null) =>
            new(id, created, served.ModelId, [new TextCompletionChoice(text, 0, finishReason)], usage);
        if (!request.Stream)
        {
            TextGenerationResult result = await served.Service.GenerateAsync(budget.PromptTokens, options, aborted);
            await JsonResponses.WriteAsync(context, 200, Completion(result.Text, FinishReasons.Of(result), Usage.Of(result)),
                Gpt2ServerJsonContext.Default.TextCompletion);
            return;
        }

        TextGenerationStream stream = served.Service.GenerateStreamingAsync(budget.PromptTokens, options, aborted);
        await ServerSentEvents.StartAsync(context);
        await foreach (string piece in stream.WithCancellation(aborted))
            await ServerSentEvents.WriteEventAsync(context, Completion(piece, null), Gpt2ServerJsonContext.Default.TextCompletion);
        TextGenerationResult final = stream.Result!;
        await ServerSentEvents.WriteEventAsync(context, Completion("", FinishReasons.Of(final)), Gpt2ServerJsonContext.Default.TextCompletion);
        if (request.IncludeUsage)
            await ServerSentEvents.WriteEventAsync(context, new TextCompletion(id, created, served.ModelId, [], Usage.Of(final)),
                Gpt2ServerJsonContext.Default.TextCompletion);
        await ServerSentEvents.WriteDoneAsync(context);
    }
}
