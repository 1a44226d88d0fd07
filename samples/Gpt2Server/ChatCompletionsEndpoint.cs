using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Gpt2Server.Wire;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// <c>POST /v1/chat/completions</c>: the messages rendered with the served prompt format, tokenized once, checked
/// against the context and generated whole or streamed as <c>chat.completion.chunk</c> events; with <c>logprobs</c>, each
/// choice (each chunk, for its tokens) carries OpenAI's <c>logprobs.content</c>. <c>response_format</c> and
/// <c>tool_choice</c> go through the chat client's mapping (<see cref="Gpt2ChatOptions.ToGenerationOptions"/>), the tools
/// and tool messages through the prompt format, and the answer through <see cref="ToolCallReader"/>, the same code
/// <see cref="Gpt2ChatClient"/> runs: <c>message.tool_calls</c> and <c>finish_reason: "tool_calls"</c>, or streamed,
/// one <c>tool_calls</c> delta per call.
/// </summary>
internal sealed class ChatCompletionsEndpoint(ServedModel served, AdmissionControl admission)
{
    public Task HandleAsync(HttpContext context) => JsonEndpoint.HandleAsync(context, body => AnswerAsync(context, body));

    private async Task AnswerAsync(HttpContext context, JsonElement body)
    {
        OpenAIRequest request = OpenAIRequest.Read(body, chat: true, served.VocabularySize);
        served.CheckModel(request);
        ChatPrompt.CheckTools(served, request);
        IReadOnlyList<ChatMessage> messages = request.Messages(served.PromptFormat.RendersTools);
        (PromptBudget budget, GenerationOptions options) = ChatPrompt.Prepare(served, request, messages, instructions: null, "messages", "response_format");
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
            ChatCompletionMessage message = new("assistant", result.Text);
            if (request.ToolsOffered)
            {
                IList<AIContent> contents = ToolCallReader.ReadAll(result.Text, served.PromptFormat, request.ParallelToolCalls ?? true);
                ChatCompletionToolCall[] calls = [.. contents.OfType<FunctionCallContent>().Select(ChatCompletionToolCall.Of)];
                string text = string.Concat(contents.OfType<TextContent>().Select(t => t.Text));
                message = new("assistant", calls.Length > 0 && text.Length == 0 ? null : text, calls.Length > 0 ? calls : null);
            }
            var completion = new ChatCompletion(id, created, served.ModelId,
                [new ChatCompletionChoice(0, message, FinishReasons.Of(result, message.ToolCalls is not null), logprobs)], Usage.Of(result));
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
        // With tools offered, a call is sent whole, as one delta, when it is complete; its framing and JSON are never streamed as text.
        ToolCallReader? reader = request.ToolsOffered ? new ToolCallReader(served.PromptFormat, request.ParallelToolCalls ?? true) : null;
        int callCount = 0;
        async Task WriteContentsAsync(IReadOnlyList<AIContent> contents, IReadOnlyList<GeneratedTokenLogProbability>? logprobs)
        {
            if (contents.Count == 0 && logprobs is not null)
                await WriteChunkAsync(new ChatCompletionDelta(Content: ""), null, ChatCompletionLogprobs.Of(logprobs, texts));
            foreach (AIContent content in contents)
            {
                ChatCompletionDelta delta = content is FunctionCallContent call
                    ? new ChatCompletionDelta(ToolCalls: [new ChatCompletionToolCallDelta(callCount++, call.CallId, ChatCompletionToolCall.Of(call).Function)])
                    : new ChatCompletionDelta(Content: ((TextContent)content).Text);
                await WriteChunkAsync(delta, null, logprobs is null ? null : ChatCompletionLogprobs.Of(logprobs, texts));
                logprobs = null;
            }
        }
        await foreach (TextGenerationUpdate update in stream.Updates.WithCancellation(aborted))
        {
            // A token whose text is held back (part of a character or of a possible stop string) still reports its log-probability here.
            bool logprobs = request.LogProbabilities is not null && update.LogProbabilities.Count > 0;
            IReadOnlyList<AIContent> contents = reader is not null ? reader.Append(update.Text)
                : update.Text.Length > 0 ? [new TextContent(update.Text)] : [];
            if (contents.Count > 0 || logprobs)
                await WriteContentsAsync(contents, logprobs ? update.LogProbabilities : null);
        }
        TextGenerationResult final = stream.Result!;
        served.Metrics.RecordGeneration(final);
        if (reader is not null)
            await WriteContentsAsync(reader.Complete(), null);
        await WriteChunkAsync(new ChatCompletionDelta(), FinishReasons.Of(final, callCount > 0));
        if (request.IncludeUsage)
            await ServerSentEvents.WriteEventAsync(context, new ChatCompletionChunk(id, created, served.ModelId, [], Usage.Of(final)),
                Gpt2ServerJsonContext.Default.ChatCompletionChunk);
        await ServerSentEvents.WriteDoneAsync(context);
    }
}
