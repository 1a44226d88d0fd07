namespace Gpt2.Torch.Templates;

/// <summary>
/// A Hugging Face chat template (tokenizer_config.json's <c>chat_template</c>, Jinja), parsed once and rendered per
/// conversation exactly as transformers' <c>apply_chat_template</c> renders it: the variables <c>messages</c>,
/// <c>add_generation_prompt</c>, <c>bos_token</c>, <c>eos_token</c>, <c>tools</c> (none when not given), the functions
/// <c>raise_exception</c> and <c>strftime_now</c>, and Jinja's <c>trim_blocks</c> and <c>lstrip_blocks</c>.
/// Only the part of Jinja that chat templates use is implemented: <c>include</c>, <c>extends</c>, <c>raw</c>, unknown
/// filters and tests are refused when parsing, unknown functions when rendering, with the construct and its position.
/// A parsed template is immutable: parse it once and render from any number of threads.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>Variables the renderer sets from its own parameters: a caller's variable must not replace them.</summary>
    private static readonly string[] ReservedVariables = ["messages", "add_generation_prompt", "tools", "bos_token", "eos_token"];

    private readonly IReadOnlyList<Statement> _body;

    private ChatTemplate(string source, IReadOnlyList<Statement> body)
    {
        Source = source;
        _body = body;
    }

    /// <summary>The template's Jinja text.</summary>
    public string Source { get; }

    /// <summary>Parses a template.</summary>
    /// <exception cref="ChatTemplateException">The template uses a construct this interpreter does not implement, or is malformed.</exception>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, TemplateParser.Parse(source));
    }

    /// <summary>Renders a conversation.</summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="addGenerationPrompt">True to end with the opening of an assistant turn, for the model to continue.</param>
    /// <param name="options">Special tokens, tools and further variables (enable_thinking, date_string, ...).</param>
    /// <exception cref="ChatTemplateException">
    /// The template refused the conversation (<c>raise_exception</c>: <see cref="ChatTemplateException.RaisedByTemplate"/>),
    /// or failed while rendering it.
    /// </exception>
    public string Render(IReadOnlyList<ChatTemplateMessage> messages, bool addGenerationPrompt, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        options ??= new ChatTemplateOptions();
        var globals = TemplateGlobals.Create(options.Now);
        globals.Set("messages", messages.Select(ToValue).ToList());
        globals.Set("add_generation_prompt", addGenerationPrompt);
        globals.Set("tools", options.Tools?.Select(tool => TemplateValues.FromJson(tool)).ToList());
        globals.Set("documents", null);
        if (options.BosToken is not null) globals.Set("bos_token", options.BosToken);
        if (options.EosToken is not null) globals.Set("eos_token", options.EosToken);
        foreach (var (name, value) in options.Variables ?? new Dictionary<string, object?>())
        {
            if (ReservedVariables.Contains(name))
            {
                throw new ArgumentException(
                    $"ChatTemplateOptions.Variables['{name}'] would replace what Render sets: pass it as the messages, addGenerationPrompt, Tools, BosToken or EosToken instead.",
                    nameof(options));
            }
            globals.Set(name, TemplateValues.FromClr(value));
        }
        return new TemplateEvaluator(globals).Render(_body);
    }

    /// <summary>A message as transformers passes it: a dict with role and content, plus the tool fields that are set.</summary>
    private static object ToValue(ChatTemplateMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["role"] = message.Role,
            ["content"] = message.Content,
        };
        if (message.ReasoningContent is not null) dict["reasoning_content"] = message.ReasoningContent;
        if (message.ToolCalls is not null)
        {
            dict["tool_calls"] = message.ToolCalls.Select(call =>
            {
                var value = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                if (call.Id is not null) value["id"] = call.Id;
                value["type"] = "function";
                value["function"] = new OrderedDictionary<string, object?>(StringComparer.Ordinal)
                {
                    ["name"] = call.Name,
                    ["arguments"] = TemplateValues.FromJson(call.Arguments),
                };
                return (object?)value;
            }).ToList();
        }
        if (message.ToolCallId is not null) dict["tool_call_id"] = message.ToolCallId;
        if (message.Name is not null) dict["name"] = message.Name;
        return dict;
    }
}
