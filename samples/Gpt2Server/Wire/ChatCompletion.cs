namespace Gpt2Server.Wire;

/// <summary>OpenAI's <c>chat.completion</c>: the answer to a chat request that did not stream.</summary>
public sealed record ChatCompletion(string Id, long Created, string Model, IReadOnlyList<ChatCompletionChoice> Choices, Usage Usage)
{
    /// <summary>Always <c>"chat.completion"</c>.</summary>
    public string Object => "chat.completion";
}

/// <summary>One choice of a <see cref="ChatCompletion"/>: the message, why it ended, and the log-probabilities when asked for (else null).</summary>
public sealed record ChatCompletionChoice(int Index, ChatCompletionMessage Message, string FinishReason, ChatCompletionLogprobs? Logprobs = null);

/// <summary>The assistant's message.</summary>
public sealed record ChatCompletionMessage(string Role, string Content);
