using System.Text;
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
/// <para>Only text is understood: a message holding other content (images, function calls or results) and tool messages
/// are refused with <see cref="NotSupportedException"/>.</para>
/// </remarks>
public sealed class ChatPromptFormat
{
    private readonly InstructionPromptFormat? _instructions;
    private readonly ChatTemplate? _template;
    private readonly ChatTemplateOptions? _templateOptions;

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

    /// <summary>The prompt for <paramref name="messages"/>, following the rules of this type's remarks.</summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="instructions">Extra system instructions (<see cref="ChatOptions.Instructions"/>), written before any system message.</param>
    /// <exception cref="NotSupportedException">A message holds something other than text, or has the tool role.</exception>
    /// <exception cref="ArgumentException">There is nothing to continue, or an instruction format's conversation does not end with a user message.</exception>
    public string Render(IEnumerable<ChatMessage> messages, string? instructions = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new List<(ChatRole Role, string Text)>();
        foreach (ChatMessage message in messages)
            list.Add((message.Role, TextOf(message)));
        if (_template is not null)
            return RenderTemplate(list, instructions);
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

    private string RenderTemplate(List<(ChatRole Role, string Text)> messages, string? instructions)
    {
        if (messages.Count == 0)
            throw new ArgumentException("The conversation holds no messages; give at least one.", nameof(messages));
        var rendered = messages.Select(m => new ChatTemplateMessage(m.Role.Value, m.Text)).ToList();
        if (!string.IsNullOrEmpty(instructions))
        {
            if (rendered[0].Role == ChatRole.System.Value)
                rendered[0] = rendered[0] with { Content = instructions + "\n\n" + rendered[0].Content };
            else
                rendered.Insert(0, new ChatTemplateMessage(ChatRole.System.Value, instructions));
        }
        try
        {
            return _template!.Render(rendered, addGenerationPrompt: true, _templateOptions);
        }
        catch (ChatTemplateException e) when (e.RaisedByTemplate)
        {
            throw new ArgumentException($"The model's chat template refused the conversation: {e.Message}", nameof(messages), e);
        }
    }

    private static string TextOf(ChatMessage message)
    {
        if (message.Role == ChatRole.Tool)
            throw new NotSupportedException("GPT-2 cannot call tools, so tool messages are not supported.");
        if (message.Role != ChatRole.User && message.Role != ChatRole.Assistant && message.Role != ChatRole.System)
            throw new NotSupportedException($"Messages with the role '{message.Role}' are not supported; use system, user or assistant.");
        foreach (AIContent content in message.Contents)
        {
            if (content is not TextContent)
                throw new NotSupportedException($"GPT-2 reads text only; a {message.Role} message holds {content.GetType().Name}.");
        }
        return message.Text;
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
