using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// What the two chat endpoints (<c>/v1/chat/completions</c> and <c>/v1/responses</c>) do alike before generating: refuse
/// tools the served format cannot render, render the conversation with the request's options (instructions and tools
/// included), check it against the context, and build the generation options, a constraint that cannot be followed
/// refused with the field that asked for it.
/// </summary>
internal sealed record ChatPrompt(PromptBudget Budget, GenerationOptions Options)
{
    /// <summary>Throws a 400 when the request offers tools and the served prompt format does not render them.</summary>
    public static void CheckTools(ServedModel served, OpenAIRequest request)
    {
        ChatPromptFormat format = served.PromptFormat;
        if (request.ToolsOffered && !format.RendersTools)
            throw new OpenAIErrorException(400,
                $"'tools' is not supported by the served model: its prompt format ({format.Name}) does not render tools (a chat template that writes calls as " +
                "<tool_call> JSON </tool_call>, as Qwen2.5's and Qwen3's do, or as bare JSON {\"name\", \"parameters\"}, as Llama 3.1's and 3.2's do); " +
                "leave tools out or send tool_choice \"none\".", "tools", "unsupported_parameter");
    }

    /// <param name="served">The served model and its prompt format.</param>
    /// <param name="request">The request's fields.</param>
    /// <param name="messages">The conversation.</param>
    /// <param name="instructions">A system message to render first (the Responses API's <c>instructions</c>), or null.</param>
    /// <param name="inputParam">The field that holds the conversation (<c>messages</c>, <c>input</c>).</param>
    /// <param name="formatParam">The field that holds the response format (<c>response_format</c>, <c>text.format</c>).</param>
    public static ChatPrompt Prepare(ServedModel served, OpenAIRequest request, IEnumerable<ChatMessage> messages, string? instructions,
        string inputParam, string formatParam)
    {
        ChatPromptFormat format = served.PromptFormat;
        string prompt;
        try
        {
            ChatOptions renderOptions = request.ChatOptions(1);
            renderOptions.Instructions = instructions;
            prompt = format.Render(messages, renderOptions);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new OpenAIErrorException(400, e.Message, request.ToolsOffered && e is NotSupportedException ? "tools" : inputParam);
        }
        PromptBudget budget = PromptBudget.For(served.Service, prompt, request.MaxTokens,
            Math.Min(Gpt2ChatClient.DefaultMaxOutputTokens, served.ContextLength - 1), inputParam, format.RendersSpecialTokens);
        try
        {
            GenerationOptions options = request.GenerationOptions(budget.MaxTokens, format);
            options.Validate(served.ContextLength);
            return new ChatPrompt(budget, options);
        }
        catch (Exception e) when ((e is ArgumentException or NotSupportedException) && (request.ResponseFormat is ChatResponseFormatJson || request.ToolsOffered))
        {
            string param = request.ToolsOffered && (request.ToolMode is RequiredChatToolMode || request.ResponseFormat is not ChatResponseFormatJson) ? "tools" : formatParam;
            throw new OpenAIErrorException(400, e.Message, param, "invalid_value");
        }
    }
}
