using System.Text;
using System.Text.Json;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Templates;
using Gpt2.Torch.Tokenization;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// How <see cref="Gpt2ChatClient"/> turns chat messages into the one prompt the model continues: the chat template the
/// model was trained with (<see cref="FromTokenizer"/>: the Jinja <c>chat_template</c> of a Llama, SmolLM2 or Qwen
/// instruct model's <c>tokenizer_config.json</c>), an instruction format (<see cref="Alpaca"/>, the book's;
/// <see cref="Phi3"/>; or any <see cref="InstructionPromptFormat"/>) for a GPT-2 instruction-tuned here, or
/// <see cref="RawText"/> for a plain model that just continues text.
/// </summary>
/// <remarks>
/// <para>A chat template renders the conversation as transformers' <c>apply_chat_template</c> does, with
/// <c>add_generation_prompt</c> true (the model writes the assistant turn), the tokenizer's <c>bos_token</c> and
/// <c>eos_token</c>, and <see cref="ChatOptions.Instructions"/> as the system message (before a system message's own
/// text, when the conversation has one); the rendered text is tokenized with its special tokens
/// (<see cref="RendersSpecialTokens"/>). A template's own refusal (<c>raise_exception</c>) becomes an
/// <see cref="ArgumentException"/> with the template's message.</para>
/// <para>With an instruction format, the conversation must end with a user message, and messages render as follows:</para>
/// <list type="number">
/// <item>System messages (and <see cref="ChatOptions.Instructions"/>, first) come first, each followed by a blank line, as
/// plain text before everything else: the format's own preamble stays as the model was trained with it.</item>
/// <item>Each earlier user message renders as a complete training example, its prompt with no input section followed by
/// the assistant messages after it (joined by new lines) and a blank line, exactly as
/// <see cref="InstructionPromptFormat.FormatExample"/> writes one: in Alpaca, <c>Below is an instruction ... ### Instruction:\n{user}\n\n### Response:\n{assistant}\n\n</c>.</item>
/// <item>The last user message renders as the format's prompt, ending with its response marker
/// (<c>### Response:\n</c> in Alpaca), where the model's answer begins.</item>
/// </list>
/// <para>With <see cref="RawText"/>, the texts of all messages, system messages included, are joined by new lines, and the
/// model continues the last one (which may be an assistant message to continue).</para>
/// <para>Only text is understood, and function calls and results where the template renders tools
/// (<see cref="RendersTools"/>); a message holding other content (images), and tool messages elsewhere, are refused with
/// <see cref="NotSupportedException"/>.</para>
/// </remarks>
public sealed class ChatPromptFormat
{
    private readonly InstructionPromptFormat? _instructions;
    private readonly ChatTemplate? _template;
    private readonly ChatTemplateOptions? _templateOptions;
    private ToolCallFormat? _toolCallFormat;
    private bool _toolCallFormatDetected;

    private ChatPromptFormat(string name, InstructionPromptFormat? instructions, ChatTemplate? template = null, ChatTemplateOptions? templateOptions = null)
    {
        Name = name;
        _instructions = instructions;
        _template = template;
        _templateOptions = templateOptions;
    }

    /// <summary>
    /// The chat template of <paramref name="tokenizer"/> (its <c>tokenizer_config.json</c>'s <c>chat_template</c>), or
    /// <see cref="RawText"/> when it has none (GPT-2, base models without a template).
    /// </summary>
    /// <exception cref="ChatTemplateException">The template uses a construct the renderer does not implement; the message names it.</exception>
    public static ChatPromptFormat FromTokenizer(LanguageModelTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.ChatTemplate is not string source)
            return RawText;
        return new("chat-template", null, ChatTemplate.Parse(source),
            new ChatTemplateOptions { BosToken = tokenizer.BeginningOfText, EosToken = tokenizer.EndOfText });
    }

    /// <summary>
    /// Whether the prompt holds special-token text that must become special tokens (a chat template's
    /// <c>&lt;|im_start|&gt;</c>), rather than plain text (an instruction format, raw text).
    /// </summary>
    public bool RendersSpecialTokens => _template is not null;

    /// <summary>The book's Alpaca format (chapter 7), for a model instruction-tuned with it.</summary>
    public static ChatPromptFormat Alpaca { get; } = new("alpaca", InstructionPromptFormat.Alpaca);

    /// <summary>The Phi-3 format of the book's exercise 7.1.</summary>
    public static ChatPromptFormat Phi3 { get; } = new("phi3", InstructionPromptFormat.Phi3);

    /// <summary>Text completion for a plain (not instruction-tuned) GPT-2: the messages' texts joined by new lines.</summary>
    public static ChatPromptFormat RawText { get; } = new("raw", null);

    /// <summary>The chat rendering of an instruction format, for example the one a fitted ML.NET instruction tuner was trained with.</summary>
    public static ChatPromptFormat FromInstructionFormat(InstructionPromptFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        return format == InstructionPromptFormat.Alpaca ? Alpaca : format == InstructionPromptFormat.Phi3 ? Phi3 : new(format.Name, format);
    }

    /// <summary>chat-template, alpaca, phi3, raw, or the name of a custom instruction format.</summary>
    public string Name { get; }

    /// <summary>The instruction format, or null for <see cref="RawText"/>.</summary>
    public InstructionPromptFormat? InstructionFormat => _instructions;

    /// <summary>
    /// Whether the chat template renders tools and the calls made with them in a convention <see cref="ToolCallReader"/>
    /// reads, so that <see cref="ChatOptions.Tools"/> can be offered: the Hermes convention of Qwen2.5's and Qwen3's
    /// templates (each call as <c>&lt;tool_call&gt;</c> JSON <c>&lt;/tool_call&gt;</c>), or the bare JSON of Llama 3.1's and
    /// 3.2's (<c>{"name": ..., "parameters": ...}</c> as the whole answer). Found by rendering a call, not by the model's
    /// name. False for instruction formats, raw text, and templates that ignore tools or write calls otherwise.
    /// </summary>
    public bool RendersTools => ToolCallFormat is not null;

    /// <summary>How the template writes a call, or null when it does not render tools.</summary>
    internal ToolCallFormat? ToolCallFormat
    {
        get
        {
            if (!_toolCallFormatDetected)
            {
                _toolCallFormat = _template is null ? null : DetectToolCallFormat();
                _toolCallFormatDetected = true;
            }
            return _toolCallFormat;
        }
    }

    /// <summary>The prompt for <paramref name="messages"/>, following the rules of this type's remarks.</summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="instructions">Extra system instructions (<see cref="ChatOptions.Instructions"/>), written before any system message.</param>
    /// <exception cref="NotSupportedException">A message holds something other than text, or has the tool role.</exception>
    /// <exception cref="ArgumentException">There is nothing to continue, or an instruction format's conversation does not end with a user message.</exception>
    public string Render(IEnumerable<ChatMessage> messages, string? instructions = null) => Render(messages, instructions, tools: null);

    /// <summary>
    /// The prompt for <paramref name="messages"/> with <paramref name="options"/>' <see cref="ChatOptions.Instructions"/>
    /// and, unless <see cref="ChatOptions.ToolMode"/> is <see cref="ChatToolMode.None"/>, its <see cref="ChatOptions.Tools"/>
    /// (see <see cref="RendersTools"/>). With a template that renders tools, assistant messages may hold
    /// <see cref="FunctionCallContent"/> (rendered as the template's <c>tool_calls</c>, arguments as an object) and tool
    /// messages <see cref="FunctionResultContent"/> (each a <c>tool</c> message: the result's text, or its JSON).
    /// </summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="options">The chat options, or null.</param>
    /// <exception cref="NotSupportedException">
    /// Tools (or a required tool mode) with a format that does not render them, a message holding content the format
    /// cannot render, or a tool that is not a function.
    /// </exception>
    /// <exception cref="ArgumentException">There is nothing to continue, or the conversation does not suit the format.</exception>
    public string Render(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        IReadOnlyList<AIFunctionDeclaration>? tools = null;
        bool offered = options?.Tools is { Count: > 0 } && options.ToolMode is not NoneChatToolMode;
        if ((offered || options?.ToolMode is RequiredChatToolMode) && !RendersTools)
        {
            string option = offered ? nameof(ChatOptions.Tools) : nameof(ChatOptions.ToolMode);
            throw new NotSupportedException(
                $"ChatOptions.{option} is not supported with the '{Name}' prompt format: " +
                (_template is null ? "the model has no chat template that renders tools" : "the model's chat template does not render tools") +
                $" (tools need a template that writes calls as {ToolCallFormat.KnownDescriptions}).");
        }
        if (offered)
            tools = ToolCallFormat.Functions(options!.Tools!);
        return Render(messages, options?.Instructions, tools);
    }

    private string Render(IEnumerable<ChatMessage> messages, string? instructions, IReadOnlyList<AIFunctionDeclaration>? tools)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (_template is not null)
            return RenderTemplate(TemplateMessages(messages), instructions, tools);
        var list = new List<(ChatRole Role, string Text)>();
        foreach (ChatMessage message in messages)
            list.Add((message.Role, TextOf(message)));
        var system = new List<string>();
        if (!string.IsNullOrEmpty(instructions))
            system.Add(instructions);
        system.AddRange(list.Where(m => m.Role == ChatRole.System).Select(m => m.Text));
        var turns = list.Where(m => m.Role != ChatRole.System).ToList();

        if (_instructions is null)
        {
            string raw = string.Join("\n", system.Concat(turns.Select(t => t.Text)));
            if (raw.Length == 0)
                throw new ArgumentException("The messages hold no text; GPT-2 needs some text to continue.", nameof(messages));
            return raw;
        }
        if (turns.Count == 0 || turns[^1].Role != ChatRole.User)
            throw new ArgumentException(
                $"With the {Name} prompt format the conversation must end with a user message (the instruction to answer); use ChatPromptFormat.RawText to continue other text.",
                nameof(messages));

        var prompt = new StringBuilder();
        foreach (string text in system)
            prompt.Append(text).Append("\n\n");
        int next = 0;
        while (next < turns.Count - 1)
        {
            if (turns[next].Role != ChatRole.User)
                throw new ArgumentException($"With the {Name} prompt format, assistant messages must follow a user message; turn {next} does not.", nameof(messages));
            string instruction = turns[next++].Text;
            var replies = new List<string>();
            while (next < turns.Count - 1 && turns[next].Role == ChatRole.Assistant)
                replies.Add(turns[next++].Text);
            prompt.Append(_instructions.FormatExample(new InstructionExample(instruction, "", string.Join("\n", replies)))).Append("\n\n");
        }
        return prompt.Append(_instructions.FormatPrompt(turns[^1].Text, null)).ToString();
    }

    private string RenderTemplate(List<ChatTemplateMessage> rendered, string? instructions, IReadOnlyList<AIFunctionDeclaration>? tools)
    {
        if (rendered.Count == 0)
            throw new ArgumentException("The conversation holds no messages; give at least one.", "messages");
        if (!string.IsNullOrEmpty(instructions))
        {
            if (rendered[0].Role == ChatRole.System.Value)
                rendered[0] = rendered[0] with { Content = instructions + "\n\n" + rendered[0].Content };
            else
                rendered.Insert(0, new ChatTemplateMessage(ChatRole.System.Value, instructions));
        }
        ChatTemplateOptions options = tools is { Count: > 0 }
            ? _templateOptions! with { Tools = [.. tools.Select(ToolCallFormat.TemplateTool)] }
            : _templateOptions!;
        try
        {
            return _template!.Render(rendered, addGenerationPrompt: true, options);
        }
        catch (ChatTemplateException e) when (e.RaisedByTemplate)
        {
            throw new ArgumentException($"The model's chat template refused the conversation: {e.Message}", "messages", e);
        }
    }

    // The messages as a chat template reads them; function calls and results only where the template renders tools.
    private List<ChatTemplateMessage> TemplateMessages(IEnumerable<ChatMessage> messages)
    {
        var rendered = new List<ChatTemplateMessage>();
        var callNames = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (ChatMessage message in messages)
        {
            bool hasFunctionContent = message.Contents.Any(c => c is FunctionCallContent or FunctionResultContent);
            if (!hasFunctionContent || !RendersTools)
            {
                rendered.Add(new ChatTemplateMessage(message.Role.Value, TextOf(message)));
                continue;
            }
            if (message.Role == ChatRole.Assistant)
            {
                var calls = new List<ChatTemplateToolCall>();
                foreach (AIContent content in message.Contents)
                {
                    if (content is FunctionCallContent call)
                    {
                        calls.Add(new ChatTemplateToolCall(call.Name, JsonSerializer.SerializeToElement(call.Arguments ?? new Dictionary<string, object?>(),
                            AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>))), call.CallId));
                        callNames[call.CallId] = call.Name;
                    }
                    else if (content is not TextContent)
                        throw new NotSupportedException($"An assistant message holds {content.GetType().Name}; the model reads text and function calls only.");
                }
                rendered.Add(new ChatTemplateMessage(message.Role.Value, message.Text) { ToolCalls = calls });
            }
            else if (message.Role == ChatRole.Tool)
            {
                foreach (AIContent content in message.Contents)
                {
                    if (content is not FunctionResultContent result)
                        throw new NotSupportedException($"A tool message holds {content.GetType().Name}; it must hold function results (FunctionResultContent).");
                    rendered.Add(new ChatTemplateMessage(ChatRole.Tool.Value, ResultText(result))
                    {
                        ToolCallId = result.CallId,
                        Name = callNames.GetValueOrDefault(result.CallId),
                    });
                }
            }
            else
                throw new NotSupportedException($"A {message.Role} message holds function calls or results; only assistant messages call functions and tool messages answer them.");
        }
        return rendered;
    }

    // As Microsoft.Extensions.AI's OpenAI client sends a result: a string as it is, anything else as JSON.
    private static string ResultText(FunctionResultContent result) => result.Result switch
    {
        null => "",
        string text => text,
        object value => JsonSerializer.Serialize(value, AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(object))),
    };

    private ToolCallFormat? DetectToolCallFormat()
    {
        // Tried rather than guessed from the source: the template must print a tool it is given, and write a call in a known way.
        const string probe = "gpt2mlnet_probe_function";
        var tool = new ChatTemplateOptions { Tools = [JsonSerializer.SerializeToElement(new { type = "function", function = new { name = probe, parameters = new { type = "object" } } })] };
        try
        {
            string offered = _template!.Render([new ChatTemplateMessage("user", "?")], addGenerationPrompt: true, _templateOptions! with { Tools = tool.Tools });
            using JsonDocument arguments = JsonDocument.Parse("{}");
            string called = _template.Render(
                [new ChatTemplateMessage("user", "?"), new ChatTemplateMessage("assistant", "") { ToolCalls = [new ChatTemplateToolCall(probe, arguments.RootElement.Clone(), "probe")] }],
                addGenerationPrompt: false, _templateOptions);
            return offered.Contains(probe, StringComparison.Ordinal) ? ToolCallFormat.Detect(called, probe) : null;
        }
        catch (ChatTemplateException)
        {
            return null;
        }
    }

    private static string TextOf(ChatMessage message)
    {
        if (message.Role == ChatRole.Tool)
            throw new NotSupportedException("Tool messages are not supported: this prompt format does not render tools (see ChatPromptFormat.RendersTools).");
        if (message.Role != ChatRole.User && message.Role != ChatRole.Assistant && message.Role != ChatRole.System)
            throw new NotSupportedException($"Messages with the role '{message.Role}' are not supported; use system, user or assistant.");
        foreach (AIContent content in message.Contents)
        {
            if (content is not TextContent)
                throw new NotSupportedException(
                    $"GPT-2 reads text only; a {message.Role} message holds {content.GetType().Name}" +
                    (content is FunctionCallContent or FunctionResultContent ? " (function calls need a prompt format that renders tools; see ChatPromptFormat.RendersTools)." : "."));
        }
        return message.Text;
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
