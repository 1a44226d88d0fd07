using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// Reads one answer, piece by piece, in one <see cref="ToolCallFormat"/>: what each piece completes (text surely outside a
/// call, whole calls), and at the end what was held back. <see cref="ToolCallReader"/> is its public face.
/// </summary>
internal abstract class ToolCallParser
{
    /// <summary>Whether a call has been read.</summary>
    public abstract bool HasToolCalls { get; }

    /// <summary>Reads the next piece of the answer.</summary>
    public abstract IReadOnlyList<AIContent> Append(string text);

    /// <summary>Ends the answer.</summary>
    public abstract IReadOnlyList<AIContent> Complete();

    /// <summary>
    /// A call from its JSON: an object with a non-empty string <c>name</c> and its arguments as an object (or none, or
    /// null) under one of <paramref name="argumentsKeys"/>, the first present; null for anything else.
    /// </summary>
    protected static FunctionCallContent? Call(JsonElement root, string raw, params ReadOnlySpan<string> argumentsKeys)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out JsonElement name) || name.ValueKind != JsonValueKind.String
            || name.GetString() is not { Length: > 0 } functionName)
            return null;
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (string key in argumentsKeys)
        {
            if (!root.TryGetProperty(key, out JsonElement given))
                continue;
            if (given.ValueKind != JsonValueKind.Null)
            {
                if (given.ValueKind != JsonValueKind.Object)
                    return null;
                foreach (JsonProperty argument in given.EnumerateObject())
                    arguments[argument.Name] = argument.Value.Clone();
            }
            break;
        }
        return new FunctionCallContent($"call_{Guid.NewGuid():N}", functionName, arguments) { RawRepresentation = raw };
    }
}
