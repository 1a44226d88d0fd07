namespace Gpt2Server.Wire;

/// <summary>
/// A streamed response's <c>response.created</c>, <c>response.in_progress</c>, <c>response.completed</c> or
/// <c>response.incomplete</c> event: the response as it stands. Every event's <c>sequence_number</c> counts from 0.
/// </summary>
public sealed record ResponseLifecycleEvent(string Type, int SequenceNumber, ResponseObject Response);

/// <summary>
/// <c>response.output_item.added</c> (the item, empty) or <c>response.output_item.done</c> (the item, whole): a
/// <see cref="ResponseOutputMessage"/> or a <see cref="ResponseFunctionCall"/>.
/// </summary>
public sealed record ResponseOutputItemEvent(string Type, int SequenceNumber, int OutputIndex, object Item);

/// <summary><c>response.content_part.added</c> (the part, empty) or <c>response.content_part.done</c> (the part, whole).</summary>
public sealed record ResponseContentPartEvent(string Type, int SequenceNumber, string ItemId, int OutputIndex, int ContentIndex, ResponseOutputText Part);

/// <summary><c>response.output_text.delta</c>: text added to the part.</summary>
public sealed record ResponseTextDeltaEvent(int SequenceNumber, string ItemId, int OutputIndex, int ContentIndex, string Delta)
{
    /// <summary>Always <c>"response.output_text.delta"</c>.</summary>
    public string Type => "response.output_text.delta";

    /// <summary>Always empty: log-probabilities are not returned on the Responses API.</summary>
    public IReadOnlyList<string> Logprobs => [];
}

/// <summary><c>response.output_text.done</c>: the part's whole text.</summary>
public sealed record ResponseTextDoneEvent(int SequenceNumber, string ItemId, int OutputIndex, int ContentIndex, string Text)
{
    /// <summary>Always <c>"response.output_text.done"</c>.</summary>
    public string Type => "response.output_text.done";

    /// <summary>Always empty: log-probabilities are not returned on the Responses API.</summary>
    public IReadOnlyList<string> Logprobs => [];
}
