using System.Text.Json.Serialization;

namespace Gpt2Server.Wire;

/// <summary>
/// OpenAI's <c>text_completion</c>: the answer to a completions request and, streamed, each of its server-sent events
/// (OpenAI's completion chunks have the same shape). The usage is in the answer, and in a last chunk without choices
/// when <c>stream_options.include_usage</c> asked for it.
/// </summary>
public sealed record TextCompletion(string Id, long Created, string Model, IReadOnlyList<TextCompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage = null)
{
    /// <summary>Always <c>"text_completion"</c>.</summary>
    public string Object => "text_completion";
}

/// <summary>
/// One choice of a <see cref="TextCompletion"/>: text, the finish reason when it is the last, and when <c>logprobs</c> was
/// sent, the log-probabilities of its tokens (else null).
/// </summary>
public sealed record TextCompletionChoice(string Text, int Index, string? FinishReason, TextCompletionLogprobs? Logprobs = null);
