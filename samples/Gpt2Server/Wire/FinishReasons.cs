using Gpt2.Torch.Generation;

namespace Gpt2Server.Wire;

/// <summary>OpenAI's <c>finish_reason</c> values.</summary>
public static class FinishReasons
{
    /// <summary><c>"length"</c> when the token limit ended the text, else <c>"stop"</c> (end of text or a stop string).</summary>
    public static string Of(TextGenerationResult result) => result.FinishReason == TextGenerationFinishReason.Length ? "length" : "stop";

    /// <summary><c>"tool_calls"</c> when the answer called tools, else as <see cref="Of(TextGenerationResult)"/>.</summary>
    public static string Of(TextGenerationResult result, bool calledTools) => calledTools ? "tool_calls" : Of(result);
}
