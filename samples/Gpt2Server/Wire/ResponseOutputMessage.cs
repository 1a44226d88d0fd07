namespace Gpt2Server.Wire;

/// <summary>
/// The assistant's message in a response's <c>output</c>: <c>status</c> <c>"in_progress"</c> while streaming, then
/// <c>"completed"</c>, or <c>"incomplete"</c> when the token limit ended it.
/// </summary>
public sealed record ResponseOutputMessage(string Id, string Status, IReadOnlyList<ResponseOutputText> Content)
{
    /// <summary>Always <c>"message"</c>.</summary>
    public string Type => "message";

    /// <summary>Always <c>"assistant"</c>.</summary>
    public string Role => "assistant";
}

/// <summary>An <c>output_text</c> content part: the text, without annotations.</summary>
public sealed record ResponseOutputText(string Text)
{
    /// <summary>Always <c>"output_text"</c>.</summary>
    public string Type => "output_text";

    /// <summary>Always empty.</summary>
    public IReadOnlyList<string> Annotations => [];
}
