using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// The Responses API's function-calling fields, read as OpenAI documents them into Microsoft.Extensions.AI's types (the
/// chat endpoint's fields in the Responses API's flat shapes), so that they go through the same mapping and prompt
/// format as chat's: <c>tools</c> (<c>{"type":"function","name","description","parameters","strict"}</c>; other tool
/// types are refused by name), <c>tool_choice</c> and <c>parallel_tool_calls</c>; and the conversation's
/// <c>function_call</c> and <c>function_call_output</c> items. A malformed field is refused with a 400 naming it.
/// </summary>
internal static class ResponsesToolFields
{
    private static readonly JsonDocument EmptyParameters = JsonDocument.Parse("""{"type":"object","properties":{}}""");

    public static IList<AITool> ReadTools(JsonElement body)
    {
        if (!body.TryGetProperty("tools", out JsonElement tools) || tools.ValueKind == JsonValueKind.Null)
            return [];
        if (tools.ValueKind != JsonValueKind.Array)
            throw Error("tools must be an array of {\"type\":\"function\",\"name\":...,\"parameters\":{...}}.", "tools", "invalid_type");
        var list = new List<AITool>();
        int index = 0;
        foreach (JsonElement tool in tools.EnumerateArray())
        {
            string param = $"tools[{index++}]";
            string? type = tool.ValueKind == JsonValueKind.Object && tool.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (type != "function")
                throw new OpenAIErrorException(400, $"'{param}.type' is not supported ({(type is null ? "no type" : $"'{type}'")} was sent): only function tools are; " +
                    "hosted tools (web search, file search, code interpreter, MCP, ...) are not available here.", $"{param}.type", "unsupported_parameter");
            string name = FunctionName(tool, "name", $"{param}.name");
            if (list.Any(existing => existing.Name == name))
                throw Error($"{param}.name '{name}' is given twice; function names must be unique.", $"{param}.name", "invalid_value");
            string? description = null;
            if (tool.TryGetProperty("description", out JsonElement d) && d.ValueKind != JsonValueKind.Null)
                description = d.ValueKind == JsonValueKind.String ? d.GetString() : throw Error($"{param}.description must be a string.", $"{param}.description", "invalid_type");
            JsonElement parameters = EmptyParameters.RootElement;
            if (tool.TryGetProperty("parameters", out JsonElement p) && p.ValueKind != JsonValueKind.Null)
                parameters = p.ValueKind == JsonValueKind.Object ? p.Clone() : throw Error($"{param}.parameters must be a JSON Schema object.", $"{param}.parameters", "invalid_type");
            list.Add(AIFunctionFactory.CreateDeclaration(name, description, parameters));
        }
        return list;
    }

    /// <summary><c>tool_choice</c>: <c>"none"</c>, <c>"auto"</c>, <c>"required"</c> or <c>{"type":"function","name":...}</c>.</summary>
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
                => ChatToolMode.RequireSpecific(FunctionName(choice, "name", "tool_choice.name")),
            _ => throw Error("tool_choice must be \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"name\":...}.", "tool_choice", "invalid_value"),
        };
        return ResponseFormatAndToolFields.CheckRequiredFunction(mode, tools);
    }

    /// <summary>A <c>function_call</c> item sent back: <c>{"type":"function_call","call_id","name","arguments": a JSON string}</c>.</summary>
    public static FunctionCallContent ReadCall(JsonElement item, string param)
    {
        string callId = String(item, "call_id", param);
        string name = String(item, "name", param);
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        string text = String(item, "arguments", param);
        JsonElement parsed;
        try
        {
            using JsonDocument document = JsonDocument.Parse(text);
            parsed = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw Error($"{param}.arguments is not valid JSON: {e.Message}", $"{param}.arguments", "invalid_value");
        }
        if (parsed.ValueKind != JsonValueKind.Object)
            throw Error($"{param}.arguments must hold a JSON object.", $"{param}.arguments", "invalid_value");
        foreach (JsonProperty argument in parsed.EnumerateObject())
            arguments[argument.Name] = argument.Value;
        return new FunctionCallContent(callId, name, arguments);
    }

    /// <summary>A <c>function_call_output</c> item: <c>{"type":"function_call_output","call_id","output": a string}</c>.</summary>
    public static FunctionResultContent ReadOutput(JsonElement item, string param) =>
        new(String(item, "call_id", param), String(item, "output", param));

    private static string FunctionName(JsonElement owner, string field, string param) =>
        owner.TryGetProperty(field, out JsonElement n) && n.ValueKind == JsonValueKind.String && n.GetString() is { Length: > 0 and <= 64 } name
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
            ? name
            : throw Error($"{param} is required: letters, digits, underscores and dashes, at most 64.", param, "invalid_value");

    private static string String(JsonElement item, string field, string param) =>
        item.TryGetProperty(field, out JsonElement value) && value.ValueKind == JsonValueKind.String ? value.GetString()!
            : throw Error($"{param}.{field} is required: a string.", $"{param}.{field}", "invalid_type");

    private static OpenAIErrorException Error(string message, string param, string code) => new(400, message, param, code);
}
