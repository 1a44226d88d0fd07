using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// A Responses API request's conversation as Microsoft.Extensions.AI messages: <c>input</c> as a string (one user
/// message) or a list of messages (<c>{"role","content"}</c>, optionally <c>"type":"message"</c>, with content a string
/// or a list of <c>input_text</c> parts, or <c>output_text</c> parts in an assistant's message sent back), and
/// <c>instructions</c>, the system text written before them. Where the served prompt format renders tools, a
/// <c>function_call</c> item becomes a <see cref="FunctionCallContent"/> of the assistant's message and a
/// <c>function_call_output</c> item a <see cref="FunctionResultContent"/> of a tool message, as Microsoft.Extensions.AI
/// holds them. Other items (reasoning, references to stored items) and other parts (images, files) are refused by name.
/// </summary>
internal sealed record ResponsesInput(IReadOnlyList<ChatMessage> Messages, string? Instructions)
{
    public static ResponsesInput Read(JsonElement body, bool rendersTools)
    {
        string? instructions = null;
        if (body.TryGetProperty("instructions", out JsonElement i) && i.ValueKind != JsonValueKind.Null)
            instructions = i.ValueKind == JsonValueKind.String ? i.GetString()
                : throw new OpenAIErrorException(400, "instructions must be a string.", "instructions", "invalid_type");
        if (!body.TryGetProperty("input", out JsonElement input) || input.ValueKind == JsonValueKind.Null)
            throw new OpenAIErrorException(400, "'input' is required: a string, or a non-empty array of {\"role\",\"content\"} messages.", "input");
        if (input.ValueKind == JsonValueKind.String)
            return new ResponsesInput([new ChatMessage(ChatRole.User, input.GetString())], instructions);
        if (input.ValueKind != JsonValueKind.Array || input.GetArrayLength() == 0)
            throw new OpenAIErrorException(400, "input must be a string, or a non-empty array of {\"role\",\"content\"} messages.", "input", "invalid_type");
        var messages = new List<ChatMessage>();
        int index = 0;
        foreach (JsonElement item in input.EnumerateArray())
        {
            string param = $"input[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
                throw new OpenAIErrorException(400, $"{param} must be a message object: {{\"role\",\"content\"}}.", param, "invalid_type");
            string? type = item.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (rendersTools && type == "function_call")
            {
                // The calls of one turn join the assistant's message, as Microsoft.Extensions.AI holds them.
                FunctionCallContent call = ResponsesToolFields.ReadCall(item, param);
                if (messages.Count > 0 && messages[^1].Role == ChatRole.Assistant)
                    messages[^1].Contents.Add(call);
                else
                    messages.Add(new ChatMessage(ChatRole.Assistant, [call]));
            }
            else if (rendersTools && type == "function_call_output")
            {
                FunctionResultContent result = ResponsesToolFields.ReadOutput(item, param);
                if (messages.Count > 0 && messages[^1].Role == ChatRole.Tool)
                    messages[^1].Contents.Add(result);
                else
                    messages.Add(new ChatMessage(ChatRole.Tool, [result]));
            }
            else
                messages.Add(Message(item, param, rendersTools));
        }
        return new ResponsesInput(messages, instructions);
    }

    private static ChatMessage Message(JsonElement item, string param, bool rendersTools)
    {
        if (item.TryGetProperty("type", out JsonElement type) && type.ValueKind != JsonValueKind.Null
            && !(type.ValueKind == JsonValueKind.String && type.GetString() == "message"))
            throw new OpenAIErrorException(400, rendersTools
                ? $"{param} is a {Describe(type)} item, which is not supported: the Responses API here reads messages, function_call and function_call_output items (no reasoning or stored items)."
                : $"{param} is a {Describe(type)} item, which is not supported: the Responses API here reads text messages only (the served model's prompt format does not render tools; no reasoning or stored items).",
                $"{param}.type", "unsupported_parameter");
        string? roleName = item.TryGetProperty("role", out JsonElement r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        ChatRole role = roleName switch
        {
            "system" or "developer" => ChatRole.System,
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            _ => throw new OpenAIErrorException(400, $"{param}.role must be user, assistant, system or developer.", $"{param}.role"),
        };
        return new ChatMessage(role, Content(item, param, role));
    }

    private static string Content(JsonElement item, string param, ChatRole role)
    {
        if (!item.TryGetProperty("content", out JsonElement content) || content.ValueKind == JsonValueKind.Null)
            throw new OpenAIErrorException(400, $"{param}.content is required: a string or an array of input_text parts.", $"{param}.content");
        if (content.ValueKind == JsonValueKind.String)
            return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array)
            throw new OpenAIErrorException(400, $"{param}.content must be a string or an array of input_text parts.", $"{param}.content", "invalid_type");
        var text = new StringBuilder();
        int index = 0;
        foreach (JsonElement part in content.EnumerateArray())
        {
            string partParam = $"{param}.content[{index++}]";
            string? partType = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            // An assistant's earlier answer comes back as output_text, as the Responses API returned it.
            bool isText = partType == "input_text" || (partType == "output_text" && role == ChatRole.Assistant);
            if (!isText || !part.TryGetProperty("text", out JsonElement partText) || partText.ValueKind != JsonValueKind.String)
                throw new OpenAIErrorException(400,
                    $"{partParam}: the model reads text only; each part must be {{\"type\":\"input_text\",\"text\":...}} (output_text in an assistant's message).",
                    partParam, partType is null or "input_text" or "output_text" ? "invalid_type" : "unsupported_parameter");
            text.Append(partText.GetString());
        }
        return text.ToString();
    }

    private static string Describe(JsonElement type) => type.ValueKind == JsonValueKind.String ? $"'{type.GetString()}'" : type.GetRawText();
}
