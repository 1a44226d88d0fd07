using System.Text.Json;
using System.Text.Json.Nodes;
using Gpt2.Torch.Generation;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// How a chat template's model writes a function call, found by rendering one (<see cref="Detect"/>): what frames the
/// call's JSON, which key holds the arguments, and how an answer is read back into calls. The template's <c>tools</c>
/// variable holds the functions in Hugging Face's and OpenAI's shape whatever the format.
/// </summary>
internal abstract class ToolCallFormat
{
    /// <summary>The formats, tried in this order.</summary>
    private static readonly ToolCallFormat[] Known = [HermesToolCallFormat.Instance, Llama3JsonToolCallFormat.Instance];

    /// <summary>The key of a call's JSON that holds the arguments (<c>arguments</c>, <c>parameters</c>).</summary>
    public abstract string ArgumentsKey { get; }

    /// <summary>Text the template writes before a call's JSON, and after it (a constrained call is framed the same way).</summary>
    public abstract string Prefix { get; }

    /// <inheritdoc cref="Prefix"/>
    public abstract string Suffix { get; }

    /// <summary>How the format is described in a refusal.</summary>
    public abstract string Description { get; }

    /// <summary>
    /// The format whose call <paramref name="rendered"/> (a conversation whose assistant turn calls <paramref name="probe"/>
    /// with no arguments) holds, or null.
    /// </summary>
    public static ToolCallFormat? Detect(string rendered, string probe) => Known.FirstOrDefault(f => f.WritesCall(rendered, probe));

    /// <summary>The formats a template may use, for refusals.</summary>
    public static string KnownDescriptions => string.Join(", or ", Known.Select(f => f.Description));

    /// <summary>Whether <paramref name="rendered"/> holds a call of <paramref name="probe"/> with no arguments written this way.</summary>
    protected abstract bool WritesCall(string rendered, string probe);

    /// <summary>A reader of answers written this way.</summary>
    public abstract ToolCallParser CreateParser(bool allowMultipleToolCalls);

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
    /// <c>name</c> is one of theirs and whose arguments (<see cref="ArgumentsKey"/>) satisfy that function's parameter schema (one
    /// <c>anyOf</c> branch per function; each function's <c>$defs</c> hoisted to the root under its own names).
    /// </summary>
    public StructuredOutput Constraint(IReadOnlyList<AIFunctionDeclaration> functions)
    {
        var definitions = new JsonObject();
        var branches = new JsonArray();
        for (int i = 0; i < functions.Count; i++)
        {
            string location = functions.Count == 1 ? $"#/properties/{ArgumentsKey}" : $"#/anyOf/{i}/properties/{ArgumentsKey}";
            JsonNode parameters = Parameters(functions[i], i, location, definitions);
            branches.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["name"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray(functions[i].Name) },
                    [ArgumentsKey] = parameters,
                },
                ["required"] = new JsonArray("name", ArgumentsKey),
                ["additionalProperties"] = false,
            });
        }
        JsonObject schema = functions.Count == 1 ? (JsonObject)branches[0]!.DeepClone() : new JsonObject { ["anyOf"] = branches };
        if (definitions.Count > 0)
            schema["$defs"] = definitions;
        return new StructuredOutput { JsonSchema = JsonSerializer.SerializeToElement(schema), Prefix = Prefix, Suffix = Suffix };
    }

    // The function's parameter schema moved under the arguments key: its $defs go to the root as "{index}_{name}", and each
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
