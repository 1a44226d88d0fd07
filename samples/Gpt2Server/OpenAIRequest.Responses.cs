using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// The sampling fields of a Responses API request (<c>POST /v1/responses</c>): <c>max_output_tokens</c>,
/// <c>temperature</c>, <c>top_p</c> and <c>stream</c>, checked as the chat endpoint checks its own, so that both map to
/// generation options through the one mapping, and <c>text.format</c> (text, <c>json_object</c> or <c>json_schema</c>),
/// which becomes the same <see cref="ChatResponseFormat"/> as chat's <c>response_format</c>, and the function-calling
/// fields (<see cref="ResponsesToolFields"/>), which become chat's tools and tool mode. The Responses fields that would
/// change the answer and are not supported are refused by name: hosted tools, reasoning, log-probabilities, background
/// mode, stored prompts, and everything that needs stored responses (<c>previous_response_id</c>, <c>conversation</c>).
/// </summary>
public sealed partial class OpenAIRequest
{
    /// <summary>Reads the fields of a Responses API request that become generation options.</summary>
    internal static OpenAIRequest ReadResponses(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw new OpenAIErrorException(400, "The request body must be a JSON object.", code: "invalid_json");
        string model = body.TryGetProperty("model", out JsonElement m) && m.ValueKind == JsonValueKind.String && m.GetString() is { Length: > 0 } name
            ? name : throw new OpenAIErrorException(400, "'model' is required: a string naming the model (GET /v1/models lists it).", "model");

        const string notStored = "this server does not store responses (a \"store\": true request is answered and not kept), so there is none to continue; " +
            "send the whole conversation in 'input'";
        RefuseUnless(body, "previous_response_id", v => false, notStored);
        RefuseUnless(body, "conversation", v => false, notStored);
        RefuseUnless(body, "background", v => v.ValueKind == JsonValueKind.False, "responses are generated while you wait; send false or leave it out");
        RefuseUnless(body, "prompt", v => false, "stored prompt templates are not supported; send the text in 'instructions' and 'input'");
        RefuseUnless(body, "reasoning", v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.Null),
            "the served model has no reasoning mode; leave it out");
        RefuseUnless(body, "top_logprobs", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int top) && top == 0,
            "log-probabilities are not returned on the Responses API (the chat and completions endpoints return them); send 0 or leave it out");
        RefuseUnless(body, "truncation", v => v.ValueKind == JsonValueKind.String && v.GetString() == "disabled",
            "the input is never cut to fit the context (an input too long is refused); send \"disabled\" or leave it out");
        if (Present(body, "include", out JsonElement include))
        {
            if (include.ValueKind != JsonValueKind.Array)
                throw new OpenAIErrorException(400, "include must be an array of strings.", "include", "invalid_type");
            if (include.EnumerateArray().Any(i => i.ValueKind == JsonValueKind.String && i.GetString() == "message.output_text.logprobs"))
                throw new OpenAIErrorException(400, "'include' asks for \"message.output_text.logprobs\", which is not supported: log-probabilities are not returned on the Responses API " +
                    "(the chat and completions endpoints return them).", "include", "unsupported_parameter");
        }
        ChatResponseFormat? format = null;
        if (Present(body, "text", out JsonElement text))
        {
            if (text.ValueKind != JsonValueKind.Object)
                throw new OpenAIErrorException(400, "text must be an object: {\"format\":{...}}.", "text", "invalid_type");
            format = TextFormat(text);
            if (Present(text, "verbosity", out JsonElement verbosity) && !(verbosity.ValueKind == JsonValueKind.String && verbosity.GetString() == "medium"))
                throw new OpenAIErrorException(400, $"'text.verbosity' is not supported ({Shorten(verbosity.GetRawText())} was sent): the model cannot be told how much to write; " +
                    "send \"medium\" or leave it out.", "text.verbosity", "unsupported_parameter");
        }

        int? maxTokens = Int(body, "max_output_tokens");
        if (maxTokens < 1)
            throw new OpenAIErrorException(400, $"max_output_tokens must be at least 1, not {maxTokens}.", "max_output_tokens", "invalid_value");
        bool stream = Present(body, "stream", out JsonElement st) && (st.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? st.GetBoolean() : throw new OpenAIErrorException(400, "stream must be true or false.", "stream", "invalid_type"));
        IList<AITool> tools = ResponsesToolFields.ReadTools(body);
        return new OpenAIRequest(body)
        {
            Model = model,
            MaxTokens = maxTokens,
            Temperature = Number(body, "temperature", 0, 2, minInclusive: true),
            TopP = Number(body, "top_p", 0, 1, minInclusive: false),
            Stream = stream,
            ResponseFormat = format,
            Tools = tools,
            ToolMode = ResponsesToolFields.ReadToolChoice(body, tools),
            ParallelToolCalls = ResponseFormatAndToolFields.ReadParallelToolCalls(body),
        };
    }

    // text.format: {"type":"text"}, {"type":"json_object"} or {"type":"json_schema","name",["description"],"schema",["strict"]},
    // the Responses API's flat form of chat's response_format.
    private static ChatResponseFormat? TextFormat(JsonElement text)
    {
        if (!Present(text, "format", out JsonElement format))
            return null;
        string? type = format.ValueKind == JsonValueKind.Object && format.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "text":
                return ChatResponseFormat.Text;
            case "json_object":
                return ChatResponseFormat.Json;
            case "json_schema":
                return ResponseFormatAndToolFields.ReadJsonSchemaFormat(format, "text.format", schemaRequired: true);
            default:
                throw new OpenAIErrorException(400,
                    "text.format must be {\"type\":\"text\"}, {\"type\":\"json_object\"} or {\"type\":\"json_schema\",\"name\":...,\"schema\":{...}}.",
                    "text.format", "invalid_value");
        }
    }
}
