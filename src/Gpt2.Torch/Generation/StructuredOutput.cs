using System.Text.Json;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Constrains a generation's text to one JSON document (vLLM's structured outputs, OpenAI's <c>response_format</c>):
/// each step, every token that cannot continue a valid document is masked, so the text always parses and validates
/// once generation stops at the end of the document. <see cref="Prefix"/> and <see cref="Suffix"/> frame the document
/// with fixed text (a tool call's <c>&lt;tool_call&gt;</c> tags), generated as the document is.
/// </summary>
/// <remarks>
/// <para>The JSON Schema subset (OpenAI's strict mode and more): <c>type</c> (a name or a list such as
/// <c>["string", "null"]</c>), <c>properties</c>, <c>required</c>, <c>additionalProperties</c>, <c>items</c>,
/// <c>minItems</c>, <c>maxItems</c>, <c>minLength</c>, <c>maxLength</c>, <c>enum</c>, <c>const</c>, <c>anyOf</c>, and
/// <c>$ref</c> inside the schema with <c>$defs</c> or <c>definitions</c> (recursion allowed); annotations such as
/// <c>description</c> and <c>title</c> are ignored. Any other keyword (<c>pattern</c>, <c>format</c>, <c>oneOf</c>,
/// <c>allOf</c>, <c>minimum</c>, ...) is refused with a <see cref="NotSupportedException"/> that names it and its place
/// in the schema.</para>
/// <para>Objects with <c>properties</c> get the listed properties only, in the order listed (required ones always),
/// whatever <c>additionalProperties</c> says, as XGrammar and vLLM do. The document is compact JSON, with at most one
/// space after <c>:</c> and <c>,</c>; numbers have at most 15 integer digits, 15 fraction digits and a two-digit
/// exponent. These bounds keep every document finite, whatever a model prefers.</para>
/// </remarks>
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
