namespace Gpt2.Torch.Instructions;

/// <summary>
/// How an instruction row becomes text: the prompt (instruction, optional input, response marker), followed by the
/// response when training. <see cref="Alpaca"/> is the book's format (chapter 7), <see cref="Phi3"/> its exercise 7.1.
/// </summary>
public sealed class InstructionPromptFormat
{
    /// <summary>The placeholder of a row's instruction in <see cref="Template"/>.</summary>
    public const string InstructionField = "{instruction}";

    /// <summary>The placeholder of the input section in <see cref="Template"/>, and of the row's input in <see cref="InputSection"/>.</summary>
    public const string InputField = "{input}";

    private InstructionPromptFormat(string name, string template, string inputSection, string responseMarker)
    {
        Name = name;
        Template = template;
        InputSection = inputSection;
        ResponseMarker = responseMarker;
    }

    /// <summary>
    /// The book's Alpaca format: "Below is an instruction that describes a task. Write a response that appropriately
    /// completes the request." then <c>### Instruction:</c>, <c>### Input:</c> when there is an input, and <c>### Response:</c>.
    /// </summary>
    public static InstructionPromptFormat Alpaca { get; } = new("alpaca",
        "Below is an instruction that describes a task. Write a response that appropriately completes the request." +
        "\n\n### Instruction:\n{instruction}{input}\n\n### Response:\n",
        "\n\n### Input:\n{input}", "### Response:");

    /// <summary>Phi-3's chat format: <c>&lt;|user|&gt;</c>, the instruction and input, then <c>&lt;|assistant|&gt;</c>.</summary>
    public static InstructionPromptFormat Phi3 { get; } = new("phi3", "<|user|>\n{instruction}{input}\n\n<|assistant|>\n", "\n{input}", "<|assistant|>");

    /// <summary>A format of your own.</summary>
    /// <param name="template">The prompt, with <c>{instruction}</c> and <c>{input}</c> (replaced by the input section) and ending with the response marker (and any separator after it).</param>
    /// <param name="inputSection">The text <c>{input}</c> becomes when a row has an input, itself holding <c>{input}</c>; nothing when the input is empty.</param>
    /// <param name="responseMarker">The text after which the response starts; it must appear in the template after the fields.</param>
    public static InstructionPromptFormat Custom(string template, string inputSection, string responseMarker)
    {
        ArgumentException.ThrowIfNullOrEmpty(template);
        ArgumentNullException.ThrowIfNull(inputSection);
        ArgumentException.ThrowIfNullOrEmpty(responseMarker);
        int instruction = template.IndexOf(InstructionField, StringComparison.Ordinal);
        int input = template.IndexOf(InputField, StringComparison.Ordinal);
        int marker = template.LastIndexOf(responseMarker, StringComparison.Ordinal);
        if (instruction < 0 || input < 0)
            throw new ArgumentException($"The template must hold both {InstructionField} and {InputField}; put {InputField} where the input section goes.", nameof(template));
        if (marker < Math.Max(instruction, input))
            throw new ArgumentException($"The template must contain the response marker '{responseMarker}' after {InstructionField} and {InputField}.", nameof(template));
        if (!inputSection.Contains(InputField, StringComparison.Ordinal) && inputSection.Length > 0)
            throw new ArgumentException($"The input section must hold {InputField}, where the row's input goes.", nameof(inputSection));
        return new InstructionPromptFormat("custom", template, inputSection, responseMarker);
    }

    /// <summary>Parses <c>alpaca</c> or <c>phi3</c> (any case).</summary>
    public static InstructionPromptFormat FromName(string name) => name?.ToLowerInvariant() switch
    {
        "alpaca" => Alpaca,
        "phi3" or "phi-3" => Phi3,
        _ => throw new ArgumentException($"Unknown prompt format '{name}'; use 'alpaca' or 'phi3', or InstructionPromptFormat.Custom for your own.", nameof(name)),
    };

    /// <summary>alpaca, phi3 or custom.</summary>
    public string Name { get; }

    /// <summary>The prompt with <see cref="InstructionField"/> and <see cref="InputField"/> (where the input section goes).</summary>
    public string Template { get; }

    /// <summary>What <see cref="InputField"/> of the template becomes when a row has an input (itself holding <see cref="InputField"/>).</summary>
    public string InputSection { get; }

    /// <summary>The text that ends the prompt and precedes the response.</summary>
    public string ResponseMarker { get; }

    /// <summary>The prompt for a row, ending where the response begins.</summary>
    /// <param name="instruction">The instruction.</param>
    /// <param name="input">The input; null or empty leaves out the input section.</param>
    public string FormatPrompt(string instruction, string? input)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        string section = string.IsNullOrEmpty(input) ? "" : InputSection.Replace(InputField, input, StringComparison.Ordinal);
        // Fields are filled in one pass each, so braces inside the instruction are never taken for fields.
        int at = Template.IndexOf(InputField, StringComparison.Ordinal);
        string before = Template[..at], after = Template[(at + InputField.Length)..];
        return before.Replace(InstructionField, instruction, StringComparison.Ordinal) + section + after.Replace(InstructionField, instruction, StringComparison.Ordinal);
    }

    /// <summary>The training text: the prompt followed by the response.</summary>
    public string FormatExample(InstructionExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        return FormatPrompt(example.Instruction, example.Input) + example.Output;
    }

    /// <summary>
    /// The response in generated text: what follows the last response marker (all of the text when there is none), up
    /// to the first <c>&lt;|endoftext|&gt;</c>, trimmed.
    /// </summary>
    public string ExtractResponse(string generatedText)
    {
        ArgumentNullException.ThrowIfNull(generatedText);
        int marker = generatedText.LastIndexOf(ResponseMarker, StringComparison.Ordinal);
        string response = marker < 0 ? generatedText : generatedText[(marker + ResponseMarker.Length)..];
        int end = response.IndexOf("<|endoftext|>", StringComparison.Ordinal);
        return (end < 0 ? response : response[..end]).Trim();
    }
}
