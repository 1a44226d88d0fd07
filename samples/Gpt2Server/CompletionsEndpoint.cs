using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2Server.Wire;

namespace Gpt2Server;

/// <summary>
/// <c>POST /v1/completions</c>: the prompt continued as it is (tokenized once and checked against the context), whole
/// or streamed as <c>text_completion</c> events; with <c>logprobs</c> (0 to 20 alternatives), each choice (each chunk,
/// for its tokens) carries OpenAI's legacy <c>logprobs</c> (tokens, token_logprobs, top_logprobs, text_offset).
/// </summary>
internal sealed class CompletionsEndpoint(ServedModel served, AdmissionControl admission)
{
    // OpenAI's default max_tokens for completions.
    private const int DefaultMaxTokens = 16;

    public Task HandleAsync(HttpContext context) => JsonEndpoint.HandleAsync(context, body => AnswerAsync(context, body));

    private async Task AnswerAsync(HttpContext context, JsonElement body)
    {
        OpenAIRequest request = OpenAIRequest.Read(body, chat: false, served.VocabularySize);
        served.CheckModel(request);
        PromptBudget budget = PromptBudget.For(served.Service, request.Prompt(), request.MaxTokens,
            Math.Min(DefaultMaxTokens, served.ContextLength - 1), "prompt");
        GenerationOptions options = request.GenerationOptions(budget.MaxTokens);
        using IDisposable place = admission.Admit();
        CancellationToken aborted = context.RequestAborted;
        string id = $"cmpl-{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var texts = new TokenTexts(served.Service.Tokenizer);
        TextCompletion Completion(string text, string? finishReason, IReadOnlyList<GeneratedTokenLogProbability>? logprobs, Usage? usage = null) =>
            new(id, created, served.ModelId,
                [new TextCompletionChoice(text, 0, finishReason, request.LogProbabilities is null ? null : TextCompletionLogprobs.Of(logprobs ?? [], texts))], usage);
        if (!request.Stream)
        {
            TextGenerationResult result = await served.Service.GenerateAsync(budget.PromptTokens, options, aborted);
            served.Metrics.RecordGeneration(result);
            await JsonResponses.WriteAsync(context, 200, Completion(result.Text, FinishReasons.Of(result), result.LogProbabilities, Usage.Of(result)),
                Gpt2ServerJsonContext.Default.TextCompletion);
            return;
        }

        TextGenerationStream stream = served.Service.GenerateStreamingAsync(budget.PromptTokens, options, aborted);
        await ServerSentEvents.StartAsync(context);
        await foreach (TextGenerationUpdate update in stream.Updates.WithCancellation(aborted))
        {
            // A token whose text is held back (part of a character or of a possible stop string) still reports its log-probability here.
            if (update.Text.Length > 0 || (request.LogProbabilities is not null && update.LogProbabilities.Count > 0))
                await ServerSentEvents.WriteEventAsync(context, Completion(update.Text, null, update.LogProbabilities), Gpt2ServerJsonContext.Default.TextCompletion);
        }
        TextGenerationResult final = stream.Result!;
        served.Metrics.RecordGeneration(final);
        await ServerSentEvents.WriteEventAsync(context, Completion("", FinishReasons.Of(final), []), Gpt2ServerJsonContext.Default.TextCompletion);
        if (request.IncludeUsage)
            await ServerSentEvents.WriteEventAsync(context, new TextCompletion(id, created, served.ModelId, [], Usage.Of(final)),
                Gpt2ServerJsonContext.Default.TextCompletion);
        await ServerSentEvents.WriteDoneAsync(context);
    }
}
