using System.Text.Json;

namespace Gpt2.Torch.Templates;

/// <summary>
/// One message of a conversation as a chat template sees it: the template reads <c>message.role</c>,
/// <c>message.content</c> (none when <see cref="Content"/> is null) and, when set, <c>message.tool_calls</c>,
/// <c>message.tool_call_id</c>, <c>message.name</c> and <c>message.reasoning_content</c>.
/// </summary>
/// <param name="Role">"system", "user", "assistant" or "tool" (templates decide what they accept).</param>
/// <param name="Content">The text of the message, or null for none (an assistant turn that only calls tools).</param>
public sealed record ChatTemplateMessage(string Role, string? Content)
{
    /// <summary>The tool calls of an assistant turn (Hugging Face's <c>tool_calls</c>), or null for none.</summary>
    public IReadOnlyList<ChatTemplateToolCall>? ToolCalls { get; init; }

    /// <summary>The id of the call a tool message answers (<c>tool_call_id</c>), or null.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>The name of the tool that produced a tool message (<c>name</c>), or null.</summary>
    public string? Name { get; init; }

    /// <summary>The reasoning of an assistant turn (<c>reasoning_content</c>, read by Qwen3's template), or null.</summary>
    public string? ReasoningContent { get; init; }
}

/// <summary>
/// One tool call of an assistant message, given to the template as Hugging Face does:
/// <c>{"id": ..., "type": "function", "function": {"name": ..., "arguments": {...}}}</c>.
/// </summary>
/// <param name="Name">The function's name.</param>
/// <param name="Arguments">The arguments: a JSON object (templates print it with <c>tojson</c>) or a JSON string.</param>
/// <param name="Id">The call's id, or null.</param>
public sealed record ChatTemplateToolCall(string Name, JsonElement Arguments, string? Id = null);
