using System.Text.Json;
using System.Text.Json.Nodes;
using Gpt2.Torch.Generation;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// The tool-calling convention of Hermes-style chat templates (Qwen2.5's and Qwen3's, read by vLLM's <c>hermes</c> tool
/// parser): the template renders the tools (<c>{"type": "function", "function": {name, description, parameters}}</c>)
/// into the system turn, and the model writes each call as <c>&lt;tool_call&gt;\n{"name": ..., "arguments": {...}}\n&lt;/tool_call&gt;</c>.
/// </summary>
internal static class HermesToolCalls
{
    public const string Start = "<tool_call>";
    public const string End = "</tool_call>";

    // Exactly what the templates write around a call's JSON ('<tool_call>\n{"name": ...}\n</tool_call>'), so that a
    // constrained call reads like the calls the model saw in training.
    public const string Prefix = Start + "\n";
    public const string Suffix = "\n" + End;

    /// <summary>The function declarations among <paramref name="tools"/>; any other kind of tool is refused by name.</summary>
    public static IReadOnlyList<AIFunctionDeclaration> Functions(IList<AITool> tools)
    {
        var functions = new List<AIFunctionDeclaration>(tools.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (AITool tool in tools)
        {
            if (tool is not AIFunctionDeclaration function)
                throw new NotSupportedException(
                    $"ChatOptions.Tools holds a {tool.GetType().Name} ('{tool.Name}'); only functions (AIFunctionDeclaration, AIFunction) can be called by a local model.");
            if (string.IsNullOrEmpty(function.Name))
                throw new ArgumentException("ChatOptions.Tools holds a function without a name; give every function a name.", nameof(ChatOptions.Tools));
            if (!names.Add(function.Name))
                throw new ArgumentException($"ChatOptions.Tools holds two functions named '{function.Name}'; function names must be unique.", nameof(ChatOptions.Tools));
            functions.Add(function);
        }
        return functions;
    }

    /// <summary>A function as the template's <c>tools</c> variable holds it (Hugging Face's and OpenAI's shape).</summary>
    public static JsonElement TemplateTool(AIFunctionDeclaration function)
    {
        var definition = new JsonObject { ["name"] = function.Name };
        if (!string.IsNullOrEmpty(function.Description))
            definition["description"] = function.Description;
        definition["parameters"] = JsonNode.Parse(function.JsonSchema.GetRawText());
        return JsonSerializer.SerializeToElement(new JsonObject { ["type"] = "function", ["function"] = definition });
    }

    /// <summary>
    /// The constraint for one call of one of <paramref name="functions"/>: the framing text around a JSON object whose
    /// <c>name</c> is one of theirs and whose <c>arguments</c> satisfy that function's parameter schema (one
    /// <c>anyOf</c> branch per function; each function's <c>$defs</c> hoisted to the root under its own names).
    /// </summary>
    public static StructuredOutput Constraint(IReadOnlyList<AIFunctionDeclaration> functions)
    {
        var definitions = new JsonObject();
        var branches = new JsonArray();
        for (int i = 0; i < functions.Count; i++)
        {
            string location = functions.Count == 1 ? "#/properties/arguments" : $"#/anyOf/{i}/properties/arguments";
            JsonNode parameters = Parameters(functions[i], i, location, definitions);
            branches.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["name"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray(functions[i].Name) },
                    ["arguments"] = parameters,
                },
                ["required"] = new JsonArray("name", "arguments"),
                ["additionalProperties"] = false,
            });
        }
        JsonObject schema = functions.Count == 1 ? (JsonObject)branches[0]!.DeepClone() : new JsonObject { ["anyOf"] = branches };
        if (definitions.Count > 0)
            schema["$defs"] = definitions;
        return new StructuredOutput { JsonSchema = JsonSerializer.SerializeToElement(schema), Prefix = Prefix, Suffix = Suffix };
    }

    // The function's parameter schema moved under 'arguments': its $defs go to the root as "{index}_{name}", and each
    // local $ref is rewritten to where its target now lives.
    private static JsonNode Parameters(AIFunctionDeclaration function, int index, string location, JsonObject definitions)
    {
        JsonObject parameters = JsonNode.Parse(function.JsonSchema.GetRawText()) as JsonObject
            ?? throw new ArgumentException($"The parameter schema of the function '{function.Name}' is not a JSON object.", nameof(ChatOptions.Tools));
        parameters.Remove("$schema");
        parameters.Remove("$id");
        string definitionPrefix = $"#/$defs/{index}_";
        if (parameters["$defs"] is JsonObject defs)
        {
            parameters.Remove("$defs");
            foreach ((string name, JsonNode? definition) in defs.ToList())
            {
                defs.Remove(name);
                definitions[$"{index}_{name}"] = definition;
            }
        }
        RewriteReferences(parameters, location, definitionPrefix, function.Name);
        foreach ((_, JsonNode? definition) in definitions.Where(d => d.Key.StartsWith($"{index}_", StringComparison.Ordinal)))
            RewriteReferences(definition, location, definitionPrefix, function.Name);
        return parameters;
    }

    private static void RewriteReferences(JsonNode? node, string location, string definitionPrefix, string function)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach ((string key, JsonNode? value) in obj.ToList())
                {
                    if (key == "$ref" && value is JsonValue reference && reference.TryGetValue(out string? target))
                        obj[key] = target switch
                        {
                            _ when target.StartsWith("#/$defs/", StringComparison.Ordinal) => definitionPrefix + target["#/$defs/".Length..],
                            "#" => location,
                            _ when target.StartsWith("#/", StringComparison.Ordinal) => location + target[1..],
                            _ => throw new NotSupportedException(
                                $"The parameter schema of the function '{function}' refers to '{target}'; only references inside the schema (#/...) are supported."),
                        };
                    else
                        RewriteReferences(value, location, definitionPrefix, function);
                }
                break;
            case JsonArray array:
                foreach (JsonNode? item in array)
                    RewriteReferences(item, location, definitionPrefix, function);
                break;
        }
    }
}
