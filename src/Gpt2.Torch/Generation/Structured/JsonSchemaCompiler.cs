using System.Text.Encodings.Web;
using System.Text.Json;

namespace Gpt2.Torch.Generation.Structured;

/// <summary>
/// Compiles a JSON Schema into <see cref="GrammarRule"/>s that generate only documents it validates, for the subset
/// structured-output APIs support (OpenAI's strict mode, vLLM's and XGrammar's JSON schemas): <c>type</c> (one or a
/// list), <c>properties</c>, <c>required</c>, <c>additionalProperties</c>, <c>items</c>, <c>minItems</c>,
/// <c>maxItems</c>, <c>minLength</c>, <c>maxLength</c>, <c>enum</c>, <c>const</c>, <c>anyOf</c>, <c>$ref</c> inside the
/// schema with <c>$defs</c> or <c>definitions</c> (recursion allowed); annotations (<c>title</c>, <c>description</c>,
/// <c>default</c>, ...) are ignored. Any other keyword is refused by name, with its place in the schema: leaving it out
/// would generate documents the schema rejects.
/// </summary>
/// <remarks>
/// <para>Objects with <c>properties</c> are generated with the listed properties only, in the order listed, each
/// required one always and each optional one or not, whatever <c>additionalProperties</c> says (OpenAI's strict mode
/// requires <c>false</c>; with <c>true</c> or absent the documents still validate: XGrammar and vLLM do the same).
/// Objects without <c>properties</c> take any keys, with values of <c>additionalProperties</c>' schema (any value when it
/// is absent or true; none when false). <c>enum</c> and <c>const</c> values are written as compact JSON.</para>
/// <para>Lengths count Unicode code points, as the JSON Schema specification defines them.</para>
/// </remarks>
internal sealed class JsonSchemaCompiler
{
    /// <summary>The largest <c>minLength</c>, <c>maxLength</c>, <c>minItems</c> or <c>maxItems</c> (each count is a state of its rule).</summary>
    public const int MaxCount = 4096;

    private static readonly HashSet<string> Annotations =
        ["title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"];

    private static readonly HashSet<string> Keywords =
    [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength",
        "enum", "const", "anyOf", "$ref", "$defs", "definitions",
    ];

    private static readonly string[] Types = ["object", "array", "string", "number", "integer", "boolean", "null"];

    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    private readonly JsonElement _root;
    private readonly JsonValueRules _values;
    private readonly Dictionary<string, GrammarRule> _compiled = [];

    private JsonSchemaCompiler(JsonElement root, JsonValueRules values)
    {
        _root = root;
        _values = values;
    }

    /// <summary>The rule of documents <paramref name="schema"/> validates; its rules join <paramref name="values"/>' list.</summary>
    /// <exception cref="NotSupportedException">The schema uses a keyword outside the subset (named with its place).</exception>
    /// <exception cref="ArgumentException">The schema is malformed (a keyword's value of the wrong kind).</exception>
    public static GrammarRule Compile(JsonElement schema, JsonValueRules values) => new JsonSchemaCompiler(schema, values).Schema(schema, "#");

    private GrammarRule Schema(JsonElement schema, string pointer)
    {
        if (_compiled.TryGetValue(pointer, out GrammarRule? known))
            return known;
        GrammarRule rule = _values.NewRule(pointer);
        _compiled.Add(pointer, rule);   // before building: a $ref back to it finds it
        Build(rule, schema, pointer);
        return rule;
    }

    private void Build(GrammarRule rule, JsonElement schema, string pointer)
    {
        int end = rule.AddState(accepting: true);
        void Alternative(GrammarRule value) => rule.AddCall(GrammarRule.Start, value, end);

        if (schema.ValueKind == JsonValueKind.True)
        {
            Alternative(_values.Any);
            return;
        }
        if (schema.ValueKind == JsonValueKind.False)
            throw new NotSupportedException($"The schema at {pointer} is false, which no value satisfies; give a schema a document can meet.");
        if (schema.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"The JSON Schema at {pointer} must be an object or a boolean, not {schema.ValueKind}.", "schema");

        var present = new List<string>();
        foreach (JsonProperty keyword in schema.EnumerateObject())
        {
            if (Annotations.Contains(keyword.Name))
                continue;
            if (!Keywords.Contains(keyword.Name))
                throw new NotSupportedException(
                    $"The JSON Schema keyword '{keyword.Name}' at {pointer} is not supported by structured output; remove it. Supported: {string.Join(", ", Keywords)} (and annotations such as description).");
            present.Add(keyword.Name);
        }
        foreach (string definitions in (string[])["$defs", "definitions"])
        {
            if (!schema.TryGetProperty(definitions, out JsonElement defined))
                continue;
            if (defined.ValueKind != JsonValueKind.Object)
                throw new ArgumentException($"'{definitions}' at {pointer} must be an object of schemas.", "schema");
            foreach (JsonProperty definition in defined.EnumerateObject())
                Schema(definition.Value, $"{pointer}/{definitions}/{EscapePointer(definition.Name)}");   // checked even when unused
            present.Remove(definitions);
        }

        if (present.Contains("$ref") || present.Contains("anyOf"))
        {
            string combinator = present.Contains("$ref") ? "$ref" : "anyOf";
            if (present.FirstOrDefault(name => name != combinator) is string beside)
                throw new NotSupportedException(
                    $"The JSON Schema keyword '{beside}' beside '{combinator}' at {pointer} is not supported by structured output; move it into the {(combinator == "$ref" ? "referenced schema" : "alternatives")}.");
            if (combinator == "$ref")
            {
                Alternative(Reference(schema.GetProperty("$ref"), pointer));
                return;
            }
            JsonElement alternatives = schema.GetProperty("anyOf");
            if (alternatives.ValueKind != JsonValueKind.Array || alternatives.GetArrayLength() == 0)
                throw new ArgumentException($"'anyOf' at {pointer} must be a non-empty array of schemas.", "schema");
            int index = 0;
            foreach (JsonElement alternative in alternatives.EnumerateArray())
                Alternative(Schema(alternative, $"{pointer}/anyOf/{index++}"));
            return;
        }

        IReadOnlyList<string> types = TypesOf(schema, pointer);
        if (present.Contains("enum") || present.Contains("const"))
        {
            foreach (JsonElement value in Values(schema, pointer, types))
                Alternative(_values.Literal($"{pointer} value", Serialize(value)));
            return;
        }
        if (types.Count == 0)
        {
            Alternative(_values.Any);
            return;
        }
        foreach (string type in types.Distinct())
            Alternative(Typed(type, schema, pointer));
    }

    private GrammarRule Typed(string type, JsonElement schema, string pointer)
    {
        switch (type)
        {
            case "string":
                int minLength = Count(schema, "minLength", pointer) ?? 0;
                int? maxLength = Count(schema, "maxLength", pointer);
                if (maxLength < minLength)
                    throw new ArgumentException($"'maxLength' {maxLength} at {pointer} is below 'minLength' {minLength}; no string satisfies both.", "schema");
                return _values.String(minLength, maxLength);
            case "number":
                return _values.Number;
            case "integer":
                return _values.Integer;
            case "boolean":
                return _values.Boolean;
            case "null":
                return _values.Null;
            case "array":
                return Array(schema, pointer);
            default:
                return Object(schema, pointer);
        }
    }

    private GrammarRule Array(JsonElement schema, string pointer)
    {
        GrammarRule items = _values.Any;
        if (schema.TryGetProperty("items", out JsonElement itemSchema))
        {
            if (itemSchema.ValueKind == JsonValueKind.Array)
                throw new NotSupportedException($"The JSON Schema keyword 'items' at {pointer} as an array (tuple validation) is not supported by structured output; give one schema for every item.");
            items = Schema(itemSchema, $"{pointer}/items");
        }
        int minItems = Count(schema, "minItems", pointer) ?? 0;
        int? maxItems = Count(schema, "maxItems", pointer);
        if (maxItems < minItems)
            throw new ArgumentException($"'maxItems' {maxItems} at {pointer} is below 'minItems' {minItems}; no array satisfies both.", "schema");
        GrammarRule rule = _values.NewRule($"{pointer} array");
        _values.Array(rule, items, minItems, maxItems);
        return rule;
    }

    private GrammarRule Object(JsonElement schema, string pointer)
    {
        var names = new List<string>();
        if (schema.TryGetProperty("properties", out JsonElement properties))
        {
            if (properties.ValueKind != JsonValueKind.Object)
                throw new ArgumentException($"'properties' at {pointer} must be an object of schemas.", "schema");
            names.AddRange(properties.EnumerateObject().Select(property => property.Name));
        }
        var required = new HashSet<string>();
        if (schema.TryGetProperty("required", out JsonElement requiredNames))
        {
            if (requiredNames.ValueKind != JsonValueKind.Array || requiredNames.EnumerateArray().Any(name => name.ValueKind != JsonValueKind.String))
                throw new ArgumentException($"'required' at {pointer} must be an array of property names.", "schema");
            foreach (JsonElement name in requiredNames.EnumerateArray())
            {
                string text = name.GetString()!;
                if (!names.Contains(text))
                    throw new NotSupportedException(
                        $"'required' at {pointer} names '{text}', which 'properties' does not list; structured output generates listed properties only: list it in 'properties'.");
                required.Add(text);
            }
        }
        GrammarRule rule = _values.NewRule($"{pointer} object");
        if (names.Count > 0)
        {
            ListedProperties(rule, [.. names.Select(name => (name, required.Contains(name), Schema(properties.GetProperty(name), $"{pointer}/properties/{EscapePointer(name)}")))]);
            return rule;
        }
        if (!schema.TryGetProperty("additionalProperties", out JsonElement additional) || additional.ValueKind == JsonValueKind.True)
            _values.Map(rule, _values.Any);
        else if (additional.ValueKind == JsonValueKind.False)
            rule.Accept(rule.AddLiteral(GrammarRule.Start, "{}"u8));
        else
            _values.Map(rule, Schema(additional, $"{pointer}/additionalProperties"));
        return rule;
    }

    // The listed properties in order: from "before property i" (with or without a property already written), each
    // following property up to the first required one may come next, and the object may close once no required one is left.
    private void ListedProperties(GrammarRule rule, (string Name, bool Required, GrammarRule Value)[] properties)
    {
        int count = properties.Length;
        int[,] before = new int[count + 1, 2];
        for (int i = 0; i <= count; i++)
        {
            before[i, 0] = rule.AddState();
            before[i, 1] = rule.AddState();
        }
        rule.AddByte(GrammarRule.Start, (byte)'{', before[0, 0]);
        int end = rule.AddState(accepting: true);
        for (int i = 0; i <= count; i++)
        {
            for (int written = 0; written < 2; written++)
            {
                int from = before[i, written];
                if (properties.Skip(i).All(property => !property.Required))
                    rule.AddByte(from, (byte)'}', end);
                for (int j = i; j < count; j++)
                {
                    int at = from;
                    if (written == 1)
                    {
                        int comma = rule.AddLiteral(at, ","u8);
                        at = rule.AddState();
                        rule.AddCall(comma, _values.Space, at);
                    }
                    int colon = rule.AddLiteral(at, [.. Serialize(properties[j].Name), (byte)':']);
                    int space = rule.AddState();
                    rule.AddCall(colon, _values.Space, space);
                    rule.AddCall(space, properties[j].Value, before[j + 1, 1]);
                    if (properties[j].Required)
                        break;
                }
            }
        }
    }

    private GrammarRule Reference(JsonElement reference, string pointer)
    {
        if (reference.ValueKind != JsonValueKind.String)
            throw new ArgumentException($"'$ref' at {pointer} must be a string.", "schema");
        string target = reference.GetString()!;
        if (target == "#")
            return Schema(_root, "#");
        if (!target.StartsWith("#/", StringComparison.Ordinal))
            throw new NotSupportedException(
                $"'$ref' at {pointer} is '{target}': structured output supports references inside the schema only ('#' or '#/$defs/name'); inline the schema.");
        JsonElement at = _root;
        foreach (string segment in target[2..].Split('/').Select(segment => segment.Replace("~1", "/").Replace("~0", "~")))
        {
            if (at.ValueKind == JsonValueKind.Object && at.TryGetProperty(segment, out JsonElement child))
                at = child;
            else if (at.ValueKind == JsonValueKind.Array && int.TryParse(segment, out int index) && index >= 0 && index < at.GetArrayLength())
                at = at[index];
            else
                throw new ArgumentException($"'$ref' at {pointer} is '{target}', which names nothing in the schema.", "schema");
        }
        return Schema(at, target);
    }

    private static IReadOnlyList<string> TypesOf(JsonElement schema, string pointer)
    {
        if (schema.TryGetProperty("type", out JsonElement type))
        {
            string[] types = type.ValueKind switch
            {
                JsonValueKind.String => [type.GetString()!],
                JsonValueKind.Array when type.GetArrayLength() > 0 && type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String) =>
                    [.. type.EnumerateArray().Select(t => t.GetString()!)],
                _ => throw new ArgumentException($"'type' at {pointer} must be a type name or a non-empty array of them.", "schema"),
            };
            if (types.FirstOrDefault(name => !Types.Contains(name)) is string unknown)
                throw new ArgumentException($"'type' at {pointer} names '{unknown}', which is not a JSON Schema type; use one of {string.Join(", ", Types)}.", "schema");
            return types;
        }
        var inferred = new List<string>();
        if (schema.TryGetProperty("properties", out _) || schema.TryGetProperty("required", out _) || schema.TryGetProperty("additionalProperties", out _))
            inferred.Add("object");
        if (schema.TryGetProperty("items", out _) || schema.TryGetProperty("minItems", out _) || schema.TryGetProperty("maxItems", out _))
            inferred.Add("array");
        if (schema.TryGetProperty("minLength", out _) || schema.TryGetProperty("maxLength", out _))
            inferred.Add("string");
        return inferred;
    }

    // The values of enum and const, those of the schema's types only.
    private static List<JsonElement> Values(JsonElement schema, string pointer, IReadOnlyList<string> types)
    {
        var values = new List<JsonElement>();
        if (schema.TryGetProperty("enum", out JsonElement listed))
        {
            if (listed.ValueKind != JsonValueKind.Array)
                throw new ArgumentException($"'enum' at {pointer} must be an array of values.", "schema");
            values.AddRange(listed.EnumerateArray());
        }
        if (schema.TryGetProperty("const", out JsonElement constant))
            values = listed.ValueKind == JsonValueKind.Array ? [.. values.Where(value => JsonElement.DeepEquals(value, constant))] : [constant];
        if (types.Count > 0)
            values = [.. values.Where(value => types.Any(type => IsOfType(value, type)))];
        if (values.Count == 0)
            throw new ArgumentException($"'enum'/'const' at {pointer} leaves no value{(types.Count > 0 ? $" of type {string.Join(" or ", types)}" : "")}; no document satisfies it.", "schema");
        return values;
    }

    private static bool IsOfType(JsonElement value, string type) => type switch
    {
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && value.GetDouble() is double number && Math.Floor(number) == number,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        _ => value.ValueKind == JsonValueKind.Null,
    };

    private static int? Count(JsonElement schema, string keyword, string pointer)
    {
        if (!schema.TryGetProperty(keyword, out JsonElement value))
            return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double number) || number < 0 || Math.Floor(number) != number)
            throw new ArgumentException($"'{keyword}' at {pointer} must be a non-negative integer.", "schema");
        if (number > MaxCount)
            throw new NotSupportedException($"'{keyword}' of {number} at {pointer} is not supported by structured output: at most {MaxCount}.");
        return (int)number;
    }

    private static byte[] Serialize(JsonElement value)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, Compact))
            value.WriteTo(writer);
        return stream.ToArray();
    }

    private static byte[] Serialize(string text)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, Compact))
            writer.WriteStringValue(text);
        return stream.ToArray();
    }

    private static string EscapePointer(string name) => name.Replace("~", "~0").Replace("/", "~1");
}
