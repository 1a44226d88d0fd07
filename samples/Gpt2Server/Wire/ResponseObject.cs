using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.AI;

namespace Gpt2Server.Wire;

/// <summary>
/// OpenAI's <c>response</c> object (the Responses API): the answer to <c>POST /v1/responses</c>, and the state a
/// stream's lifecycle events carry. <c>output</c> holds <see cref="ResponseOutputMessage"/> and
/// <see cref="ResponseFunctionCall"/> items. <c>status</c> is <c>"in_progress"</c> while streaming, then <c>"completed"</c>, or
/// <c>"incomplete"</c> with <c>incomplete_details.reason</c> <c>"max_output_tokens"</c> when the token limit ended the
/// text. The request's settings are echoed as OpenAI echoes them; <c>store</c> is always false (nothing is kept), and
/// <c>temperature</c> is the one used (0, greedy, when none was sent).
/// </summary>
public sealed record ResponseObject(
    string Id,
    long CreatedAt,
    string Status,
    ResponseIncompleteDetails? IncompleteDetails,
    string? Instructions,
    int? MaxOutputTokens,
    string Model,
    IReadOnlyList<object> Output,
    double Temperature,
    double TopP,
    IReadOnlyDictionary<string, string> Metadata,
    string? User,
    ResponseTextConfig Text,
    JsonElement Tools,
    JsonElement ToolChoice,
    bool ParallelToolCalls,
    ResponseUsage? Usage)
{
    /// <summary>Always <c>"response"</c>.</summary>
    public string Object => "response";

    /// <summary>Always null: a failure is an HTTP error (or, mid-stream, an error event).</summary>
    public JsonElement? Error => null;

    /// <summary>Always null: responses are not stored, so none continues another.</summary>
    public string? PreviousResponseId => null;

    /// <summary>Always false: responses are not stored.</summary>
    public bool Store => false;

    /// <summary>Always <c>"disabled"</c>: an input too long is refused, never cut.</summary>
    public string Truncation => "disabled";
}

/// <summary>Why a response is incomplete: <c>"max_output_tokens"</c>.</summary>
public sealed record ResponseIncompleteDetails(string Reason);

/// <summary>The response's text settings: <c>{"format":{...}}</c>.</summary>
public sealed record ResponseTextConfig(ResponseTextFormat Format)
{
    /// <summary>The settings that <paramref name="format"/> (the request's <c>text.format</c>; null for none) echoes as.</summary>
    internal static ResponseTextConfig Of(ChatResponseFormat? format) => new(format switch
    {
        ChatResponseFormatJson { Schema: JsonElement schema } json => new ResponseTextFormat("json_schema", json.SchemaName, json.SchemaDescription, schema, Strict: true),
        ChatResponseFormatJson => new ResponseTextFormat("json_object"),
        _ => new ResponseTextFormat("text"),
    });
}

/// <summary>
/// The text format: <c>"text"</c>, <c>"json_object"</c>, or <c>"json_schema"</c> with its name, description and schema,
/// and <c>strict</c> true (decoding is constrained, so the output always follows the schema).
/// </summary>
public sealed record ResponseTextFormat(string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Description = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Schema = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? Strict = null);

/// <summary>
/// The Responses API's <c>usage</c>: the input tokens the model read (none from a cache) and the tokens it wrote (none
/// of them reasoning).
/// </summary>
public sealed record ResponseUsage(int InputTokens, ResponseInputTokensDetails InputTokensDetails, int OutputTokens,
    ResponseOutputTokensDetails OutputTokensDetails, int TotalTokens)
{
    /// <summary>The usage of one generation.</summary>
    public static ResponseUsage Of(Gpt2.Torch.Generation.TextGenerationResult result) =>
        new(result.PromptTokenCount, new ResponseInputTokensDetails(0), result.CompletionTokenCount, new ResponseOutputTokensDetails(0),
            result.PromptTokenCount + result.CompletionTokenCount);
}

/// <summary>Input tokens read from a prompt cache: always 0.</summary>
public sealed record ResponseInputTokensDetails(int CachedTokens);

/// <summary>Output tokens spent reasoning: always 0.</summary>
public sealed record ResponseOutputTokensDetails(int ReasoningTokens);
