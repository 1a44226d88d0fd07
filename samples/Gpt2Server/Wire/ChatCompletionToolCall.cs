using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2Server.Wire;

/// <summary>OpenAI's tool call in an assistant message: <c>{"id", "type": "function", "function": {"name", "arguments"}}</c>.</summary>
public sealed record ChatCompletionToolCall(string Id, ChatCompletionFunctionCall Function)
{
    /// <summary>Always <c>"function"</c>.</summary>
    public string Type => "function";

    /// <summary>A call the model made, its arguments written back as a JSON string, as OpenAI sends them.</summary>
    public static ChatCompletionToolCall Of(FunctionCallContent call) => new(call.CallId, new ChatCompletionFunctionCall(call.Name,
        JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>)))));
}

/// <summary>The function a tool call calls: its name and its arguments as a JSON string.</summary>
public sealed record ChatCompletionFunctionCall(string Name, string Arguments);

/// <summary>
/// A tool call in a streamed delta: its index among the message's calls, and (here always, since a call is sent whole
/// once its closing tag arrives) its id, type, name and arguments.
/// </summary>
public sealed record ChatCompletionToolCallDelta(int Index, string Id, ChatCompletionFunctionCall Function)
{
    /// <summary>Always <c>"function"</c>.</summary>
    public string Type => "function";
}
