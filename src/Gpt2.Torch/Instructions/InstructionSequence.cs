using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Instructions;

/// <summary>A tokenized instruction row: the prompt's tokens followed by the response's.</summary>
/// <param name="TokenIds">Prompt and response tokens, at least one.</param>
/// <param name="PromptLength">How many of the tokens belong to the prompt (masked from the loss when asked).</param>
public sealed record InstructionSequence(int[] TokenIds, int PromptLength)
{
    /// <summary>
    /// Formats <paramref name="example"/> with <paramref name="format"/> and tokenizes it (special tokens in the text stay
    /// text), after the tokenizer's beginning-of-text token where its family has one (Llama 3).
    /// </summary>
    public static InstructionSequence Create(InstructionExample example, InstructionPromptFormat format, LanguageModelTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(example);
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(tokenizer);
        int promptLength = tokenizer.EncodeWithBeginningOfText(format.FormatPrompt(example.Instruction, example.Input)).Length;
        return new InstructionSequence(tokenizer.EncodeWithBeginningOfText(format.FormatExample(example)), promptLength);
    }
}
