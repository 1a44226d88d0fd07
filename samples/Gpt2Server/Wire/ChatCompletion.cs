using System.Text.Json.Serialization;

namespace Gpt2Server.Wire;

/// <summary>OpenAI's <c>chat.completion</c>: the answer to a chat request that did not stream.</summary>
public sealed record ChatCompletion(string Id, long Created, string Model, IReadOnlyList<ChatCompletionChoice> Choices, Usage Usage)
{
    /// <summary>Always <c>"chat.completion"</c>.</summary>
    public string Object => "chat.completion";
}

/// <summary>One choice of a <see cref="ChatCompletion"/>: the message, why it ended, and the log-probabilities when asked for (else null).</summary>
public sealed record ChatCompletionChoice(int Index, ChatCompletionMessage Message, string FinishReason, ChatCompletionLogprobs? Logprobs = null);

/// <summary>The assistant's message: its text (null when it only calls tools) and the calls it makes, when tools were offered.</summary>
public sealed record ChatCompletionMessage(string Role, string? Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ChatCompletionToolCall>? ToolCalls = null);
