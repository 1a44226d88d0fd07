using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Gpt2Server.Wire;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// <c>POST /v1/chat/completions</c>: the messages rendered with the served prompt format, tokenized once, checked
/// against the context and generated whole or streamed as <c>chat.completion.chunk</c> events; with <c>logprobs</c>, each
/// choice (each chunk, for its tokens) carries OpenAI's <c>logprobs.content</c>.
/// </summary>
internal sealed class ChatCompletionsEndpoint(ServedModel served, AdmissionControl admission)
{
    public Task HandleAsync(HttpContext context) => JsonEndpoint.HandleAsync(context, body => AnswerAsync(context, body));

    private async Task AnswerAsync(HttpContext context, JsonElement body)
    {
        OpenAIRequest request = OpenAIRequest.Read(body, chat: true, served.VocabularySize);
        served.CheckModel(request);
        IReadOnlyList<ChatMessage> messages = request.Messages();
        string prompt;
        try
        {
            prompt = served.PromptFormat.Render(messages);
        }
        catch (ArgumentException e)
        {
            throw new OpenAIErrorException(400, e.Message, "messages");
        }
        PromptBudget budget = PromptBudget.For(served.Service, prompt, request.MaxTokens,
            Math.Min(Gpt2ChatClient.DefaultMaxOutputTokens, served.ContextLength - 1), "messages", served.PromptFormat.RendersSpecialTokens);
        GenerationOptions options = request.GenerationOptions(budget.MaxTokens);
        using IDisposable place = admission.Admit();
        CancellationToken aborted = context.RequestAborted;
        string id = $"chatcmpl-{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (!request.Stream)
        {
            TextGenerationResult result = await served.Service.GenerateAsync(budget.PromptTokens, options, aborted);
            served.Metrics.RecordGeneration(result);
            ChatCompletionLogprobs? logprobs = request.LogProbabilities is null ? null
                : ChatCompletionLogprobs.Of(result.LogProbabilities ?? [], new TokenTexts(served.Service.Tokenizer));
            var completion = new ChatCompletion(id, created, served.ModelId,
                [new ChatCompletionChoice(0, new ChatCompletionMessage("assistant", result.Text), FinishReasons.Of(result), logprobs)], Usage.Of(result));
            await JsonResponses.WriteAsync(context, 200, completion, Gpt2ServerJsonContext.Default.ChatCompletion);
            return;
        }

        Task WriteChunkAsync(ChatCompletionDelta delta, string? finishReason, ChatCompletionLogprobs? logprobs = null) => ServerSentEvents.WriteEventAsync(context,
            new ChatCompletionChunk(id, created, served.ModelId, [new ChatCompletionChunkChoice(0, delta, finishReason, logprobs)]),
            Gpt2ServerJsonContext.Default.ChatCompletionChunk);
        TextGenerationStream stream = served.Service.GenerateStreamingAsync(budget.PromptTokens, options, aborted);
        var texts = new TokenTexts(served.Service.Tokenizer);
        await ServerSentEvents.StartAsync(context);
        await WriteChunkAsync(new ChatCompletionDelta(Role: "assistant", Content: ""), null);
        await foreach (TextGenerationUpdate update in stream.Updates.WithCancellation(aborted))
        {
            // A token whose text is held back (part of a character or of a possible stop string) still reports its log-probability here.
            bool logprobs = request.LogProbabilities is not null && update.LogProbabilities.Count > 0;
            if (update.Text.Length > 0 || logprobs)
                await WriteChunkAsync(new ChatCompletionDelta(Content: update.Text), null, logprobs ? ChatCompletionLogprobs.Of(update.LogProbabilities, texts) : null);
        }
        TextGenerationResult final = stream.Result!;
        served.Metrics.RecordGeneration(final);
        await WriteChunkAsync(new ChatCompletionDelta(), FinishReasons.Of(final));
        if (request.IncludeUsage)
            await ServerSentEvents.WriteEventAsync(context, new ChatCompletionChunk(id, created, served.ModelId, [], Usage.Of(final)),
                Gpt2ServerJsonContext.Default.ChatCompletionChunk);
        await ServerSentEvents.WriteDoneAsync(context);
    }
}
