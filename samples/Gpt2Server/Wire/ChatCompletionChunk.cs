using System.Text.Json.Serialization;

namespace Gpt2Server.Wire;

/// <summary>
/// OpenAI's <c>chat.completion.chunk</c>: one server-sent event of a streamed chat answer. The last chunk, sent only
/// when <c>stream_options.include_usage</c> asked for it, has no choices and the usage.
/// </summary>
public sealed record ChatCompletionChunk(string Id, long Created, string Model, IReadOnlyList<ChatCompletionChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage = null)
{
    /// <summary>Always <c>"chat.completion.chunk"</c>.</summary>
    public string Object => "chat.completion.chunk";
}

/// <summary>
/// One choice of a <see cref="ChatCompletionChunk"/>: a delta, the finish reason in the last one, and when asked for, the
/// log-probabilities of the tokens generated since the previous chunk (else null).
/// </summary>
public sealed record ChatCompletionChunkChoice(int Index, ChatCompletionDelta Delta, string? FinishReason, ChatCompletionLogprobs? Logprobs = null);

/// <summary>
/// What a chunk adds to the message: the role in the first chunk, text or a whole tool call in the next ones, nothing in
/// the last.
/// </summary>
public sealed record ChatCompletionDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ChatCompletionToolCallDelta>? ToolCalls = null);
