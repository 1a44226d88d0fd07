using System.Text.Json;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Constrains a generation's text to one JSON document (vLLM's structured outputs, OpenAI's <c>response_format</c>):
/// each step, every token that cannot continue a valid document is masked, so the text always parses and validates
/// once generation stops at the end of the document. <see cref="Prefix"/> and <see cref="Suffix"/> frame the document
/// with fixed text (a tool call's <c>&lt;tool_call&gt;</c> tags), generated as the document is.
/// </summary>
public sealed record StructuredOutput
{
    /// <summary>
    /// The JSON Schema the document must satisfy (the subset structured-output APIs support; others are refused by
    /// name), or null for any JSON object (OpenAI's <c>json_object</c>).
    /// </summary>
    public JsonElement? JsonSchema { get; init; }

    /// <summary>Text the output starts with, before the document.</summary>
    public string Prefix { get; init; } = "";

    /// <summary>Text the output ends with, after the document; generation then stops.</summary>
    public string Suffix { get; init; } = "";

    /// <summary>Any JSON object (OpenAI's <c>{"type": "json_object"}</c>).</summary>
    public static StructuredOutput JsonObject { get; } = new();

    /// <summary>A document that validates against <paramref name="schema"/>.</summary>
    public static StructuredOutput ForJsonSchema(JsonElement schema) => new() { JsonSchema = schema.Clone() };
}
