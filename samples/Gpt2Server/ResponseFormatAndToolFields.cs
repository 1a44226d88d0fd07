using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// The chat request fields of structured output and function calling, read as OpenAI documents them into
/// Microsoft.Extensions.AI's types, so that they go through the same mapping as <c>Gpt2ChatClient</c>'s options:
/// <c>response_format</c>, <c>tools</c>, <c>tool_choice</c>, <c>parallel_tool_calls</c>, an assistant's
/// <c>tool_calls</c> and a <c>tool</c> message. A malformed field is refused with a 400 naming it.
/// </summary>
internal static partial class ResponseFormatAndToolFields
{
    // OpenAI's rule for function names.
    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex FunctionName();

    /// <summary><c>{"type": "text" | "json_object" | "json_schema", "json_schema": {name, description, schema, strict}}</c>.</summary>
    public static ChatResponseFormat? ReadResponseFormat(JsonElement body)
    {
        if (!body.TryGetProperty("response_format", out JsonElement format) || format.ValueKind == JsonValueKind.Null)
            return null;
        string? type = format.ValueKind == JsonValueKind.Object && format.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "text":
                return ChatResponseFormat.Text;
            case "json_object":
                return ChatResponseFormat.Json;
            case "json_schema":
                if (!format.TryGetProperty("json_schema", out JsonElement definition) || definition.ValueKind != JsonValueKind.Object)
                    throw Error("response_format.json_schema is required with type json_schema: {\"name\": ..., \"schema\": {...}}.", "response_format.json_schema", "invalid_type");
                return ReadJsonSchemaFormat(definition, "response_format.json_schema", schemaRequired: false);
            default:
                throw Error("response_format must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or {\"type\": \"json_schema\", \"json_schema\": {...}}.",
                    "response_format", "invalid_value");
        }
    }

    /// <summary>
    /// A JSON schema format's <c>name</c>, <c>description</c>, <c>schema</c> and <c>strict</c>, as chat's
    /// <c>response_format.json_schema</c> and the Responses API's flat <c>text.format</c> both hold them (at
    /// <paramref name="param"/>); without a schema (allowed on chat only) any JSON object.
    /// </summary>
    public static ChatResponseFormat ReadJsonSchemaFormat(JsonElement definition, string param, bool schemaRequired)
    {
        string name = definition.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String && FunctionName().IsMatch(n.GetString()!)
            ? n.GetString()!
            : throw Error($"{param}.name is required: letters, digits, underscores and dashes, at most 64.", $"{param}.name", "invalid_value");
        string? description = OptionalString(definition, "description", $"{param}.description");
        JsonElement? schema = null;
        if (definition.TryGetProperty("schema", out JsonElement s) && s.ValueKind != JsonValueKind.Null)
            schema = s.ValueKind == JsonValueKind.Object ? s.Clone() : throw Error($"{param}.schema must be a JSON Schema object.", $"{param}.schema", "invalid_type");
        else if (schemaRequired)
            throw Error($"{param}.schema is required with type json_schema: a JSON Schema object.", $"{param}.schema", "invalid_type");
        if (definition.TryGetProperty("strict", out JsonElement strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
            throw Error($"{param}.strict must be true or false (the output always follows the schema).", $"{param}.strict", "invalid_type");
        return schema is JsonElement given ? ChatResponseFormat.ForJsonSchema(given, name, description) : ChatResponseFormat.Json;
    }

    /// <summary><c>tools</c>: <c>[{"type": "function", "function": {name, description, parameters, strict}}]</c>.</summary>
    public static IList<AITool> ReadTools(JsonElement body)
    {
        if (!body.TryGetProperty("tools", out JsonElement tools) || tools.ValueKind == JsonValueKind.Null)
            return [];
        if (tools.ValueKind != JsonValueKind.Array)
            throw Error("tools must be an array of {\"type\": \"function\", \"function\": {...}}.", "tools", "invalid_type");
        var list = new List<AITool>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        int index = 0;
        foreach (JsonElement tool in tools.EnumerateArray())
        {
            string param = $"tools[{index++}]";
            if (tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("type", out JsonElement type) || type.ValueKind != JsonValueKind.String || type.GetString() != "function")
                throw Error($"{param} must be {{\"type\": \"function\", \"function\": {{...}}}}; only function tools are supported.", $"{param}.type", "invalid_value");
            if (!tool.TryGetProperty("function", out JsonElement function) || function.ValueKind != JsonValueKind.Object)
                throw Error($"{param}.function is required: {{\"name\": ..., \"description\": ..., \"parameters\": {{...}}}}.", $"{param}.function", "invalid_type");
            string name = function.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String && FunctionName().IsMatch(n.GetString()!)
                ? n.GetString()!
                : throw Error($"{param}.function.name is required: letters, digits, underscores and dashes, at most 64.", $"{param}.function.name", "invalid_value");
            if (!names.Add(name))
                throw Error($"{param}.function.name '{name}' is given twice; function names must be unique.", $"{param}.function.name", "invalid_value");
            string? description = OptionalString(function, "description", $"{param}.function.description");
            JsonElement parameters;
            if (function.TryGetProperty("parameters", out JsonElement p) && p.ValueKind != JsonValueKind.Null)
                parameters = p.ValueKind == JsonValueKind.Object ? p.Clone()
                    : throw Error($"{param}.function.parameters must be a JSON Schema object.", $"{param}.function.parameters", "invalid_type");
            else
                parameters = EmptyParameters.RootElement;   // OpenAI's default: a function without parameters
            list.Add(AIFunctionFactory.CreateDeclaration(name, description, parameters));
        }
        return list;
    }

    private static readonly JsonDocument EmptyParameters = JsonDocument.Parse("""{"type":"object","properties":{}}""");

    /// <summary><c>tool_choice</c>: <c>"none"</c>, <c>"auto"</c>, <c>"required"</c> or <c>{"type": "function", "function": {"name": ...}}</c>.</summary>
    public static ChatToolMode? ReadToolChoice(JsonElement body, IList<AITool> tools)
    {
        if (!body.TryGetProperty("tool_choice", out JsonElement choice) || choice.ValueKind == JsonValueKind.Null)
            return null;
        ChatToolMode mode = choice.ValueKind switch
        {
            JsonValueKind.String when choice.GetString() == "none" => ChatToolMode.None,
            JsonValueKind.String when choice.GetString() == "auto" => ChatToolMode.Auto,
            JsonValueKind.String when choice.GetString() == "required" => ChatToolMode.RequireAny,
            JsonValueKind.Object when choice.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String && type.GetString() == "function"
                && choice.TryGetProperty("function", out JsonElement function) && function.ValueKind == JsonValueKind.Object
                && function.TryGetProperty("name", out JsonElement name) && name.ValueKind == JsonValueKind.String
                => ChatToolMode.RequireSpecific(name.GetString()!),
            _ => throw Error("tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice", "invalid_value"),
        };
        if (mode is not NoneChatToolMode && tools.Count == 0)
            throw Error("tool_choice is only allowed when tools are given.", "tool_choice", "invalid_value");
        return CheckRequiredFunction(mode, tools);
    }

    /// <summary>
    /// <paramref name="mode"/>, once a required call has tools to call and a named function is one of them; both APIs'
    /// <c>tool_choice</c> end here.
    /// </summary>
    public static ChatToolMode CheckRequiredFunction(ChatToolMode mode, IList<AITool> tools)
    {
        if (mode is RequiredChatToolMode && tools.Count == 0)
            throw Error("tool_choice requires a tool call, but no tools are given.", "tool_choice", "invalid_value");
        if (mode is RequiredChatToolMode { RequiredFunctionName: string required } && !tools.Any(t => t.Name == required))
            throw Error($"tool_choice names the function '{required}', which is not in tools ({string.Join(", ", tools.Select(t => $"'{t.Name}'"))}).",
                "tool_choice", "invalid_value");
        return mode;
    }

    /// <summary><c>parallel_tool_calls</c>: false keeps only the first call.</summary>
    public static bool? ReadParallelToolCalls(JsonElement body)
    {
        if (!body.TryGetProperty("parallel_tool_calls", out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
            : throw Error("parallel_tool_calls must be true or false.", "parallel_tool_calls", "invalid_type");
    }

    /// <summary>An assistant's <c>tool_calls</c>: <c>[{"id", "type": "function", "function": {"name", "arguments": a JSON string}}]</c>.</summary>
    public static IEnumerable<AIContent> ReadToolCalls(JsonElement calls, string param)
    {
        if (calls.ValueKind != JsonValueKind.Array)
            throw Error($"{param} must be an array of tool calls.", param, "invalid_type");
        var list = new List<AIContent>();
        int index = 0;
        foreach (JsonElement call in calls.EnumerateArray())
        {
            string where = $"{param}[{index++}]";
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out JsonElement function) || function.ValueKind != JsonValueKind.Object)
                throw Error($"{where} must be {{\"id\": ..., \"type\": \"function\", \"function\": {{\"name\": ..., \"arguments\": ...}}}}.", where, "invalid_type");
            string id = call.TryGetProperty("id", out JsonElement i) && i.ValueKind == JsonValueKind.String ? i.GetString()!
                : throw Error($"{where}.id is required: the id the tool message answers.", $"{where}.id", "invalid_type");
            string name = function.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String ? n.GetString()!
                : throw Error($"{where}.function.name is required.", $"{where}.function.name", "invalid_type");
            var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (function.TryGetProperty("arguments", out JsonElement a) && a.ValueKind != JsonValueKind.Null)
            {
                JsonElement parsed;
                try
                {
                    parsed = a.ValueKind == JsonValueKind.String ? JsonDocument.Parse(a.GetString()!).RootElement.Clone()
                        : throw Error($"{where}.function.arguments must be a string holding a JSON object.", $"{where}.function.arguments", "invalid_type");
                }
                catch (JsonException e)
                {
                    throw Error($"{where}.function.arguments is not valid JSON: {e.Message}", $"{where}.function.arguments", "invalid_value");
                }
                if (parsed.ValueKind != JsonValueKind.Object)
                    throw Error($"{where}.function.arguments must hold a JSON object.", $"{where}.function.arguments", "invalid_value");
                foreach (JsonProperty argument in parsed.EnumerateObject())
                    arguments[argument.Name] = argument.Value;
            }
            list.Add(new FunctionCallContent(id, name, arguments));
        }
        return list;
    }

    /// <summary>A <c>tool</c> message: <c>{"role": "tool", "tool_call_id": ..., "content": ...}</c>.</summary>
    public static FunctionResultContent ReadToolResult(JsonElement message, string param, string content)
    {
        string id = message.TryGetProperty("tool_call_id", out JsonElement i) && i.ValueKind == JsonValueKind.String ? i.GetString()!
            : throw Error($"{param}.tool_call_id is required: the id of the call this message answers.", $"{param}.tool_call_id", "invalid_type");
        return new FunctionResultContent(id, content);
    }

    private static string? OptionalString(JsonElement owner, string name, string param) =>
        !owner.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString() : throw Error($"{param} must be a string.", param, "invalid_type");

    private static OpenAIErrorException Error(string message, string param, string code) => new(400, message, param, code);
}
