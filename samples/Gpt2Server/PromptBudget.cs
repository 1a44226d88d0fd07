using Gpt2.Torch.Generation;

namespace Gpt2Server;

/// <summary>A prompt's tokens and the most tokens the completion may have.</summary>
internal sealed record PromptBudget(int[] PromptTokens, int MaxTokens)
{
    /// <summary>
    /// Tokenizes <paramref name="prompt"/> (once: the tokens go to the service as they are) and checks that it fits the
    /// context with the tokens asked for, since the service would otherwise drop the prompt's start silently.
    /// </summary>
    /// <param name="service">The service whose tokenizer and context apply.</param>
    /// <param name="prompt">The rendered prompt.</param>
    /// <param name="requested"><c>max_tokens</c>, or null when not sent.</param>
    /// <param name="fallback">The completion's length when <paramref name="requested"/> is null, cut to the room left.</param>
    /// <param name="param">The request field that holds the prompt, for the error.</param>
    /// <param name="specialTokens">
    /// Whether the prompt was rendered by a chat template, whose special-token text (and beginning-of-text token) become
    /// special tokens; otherwise it is plain text after the family's beginning-of-text token.
    /// </param>
    public static PromptBudget For(Gpt2TextGenerationService service, string prompt, int? requested, int fallback, string param, bool specialTokens = false)
    {
        int contextLength = service.Model.Config.ContextLength;
        int[] tokens = specialTokens ? service.Tokenizer.Encode(prompt, allowSpecialTokens: true) : service.Tokenizer.EncodeWithBeginningOfText(prompt);
        int room = contextLength - tokens.Length;
        if (requested is int asked)
        {
            if (asked > room)
                throw new OpenAIErrorException(400,
                    $"This model's maximum context length is {contextLength} tokens. However, you requested {tokens.Length + asked} tokens " +
                    $"({tokens.Length} in the {param}, {asked} for the completion). Please reduce the length of the {param} or the completion.",
                    param, "context_length_exceeded");
            return new PromptBudget(tokens, asked);
        }
        if (room < 1)
            throw new OpenAIErrorException(400,
                $"This model's maximum context length is {contextLength} tokens, and the {param} takes {tokens.Length}, leaving no room for a completion.",
                param, "context_length_exceeded");
        return new PromptBudget(tokens, Math.Min(fallback, room));
    }
}
