using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Training;

/// <summary>Hyperparameters of <see cref="InstructionTrainer"/>; the defaults are the book's (chapter 7).</summary>
public sealed record InstructionTuningOptions : FineTuningOptions
{
    /// <inheritdoc />
    public override int Epochs { get; init; } = 2;

    /// <inheritdoc />
    public override int EvaluationInterval { get; init; } = 5;

    /// <summary>Rows keep at most this many tokens (the book: 1024).</summary>
    public int AllowedMaxLength { get; init; } = 1024;

    /// <summary>Whether only response tokens are learned (prompt targets masked; the book's exercise 7.2).</summary>
    public bool MaskPrompt { get; init; }

    /// <summary>
    /// The end-of-text token that ends each row and pads batches: the tokenizer's <see cref="LanguageModelTokenizer.EndOfTextId"/>.
    /// When null, the model family's built-in tokenizer's (GPT-2's <c>&lt;|endoftext|&gt;</c>, 50256); families whose
    /// tokenizer comes with the weights (Llama, Qwen) need it set.
    /// </summary>
    public int? EndOfTextId { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        OptionChecks.AtLeast(AllowedMaxLength, 2, nameof(AllowedMaxLength), "1024");
    }
}
