using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Training;

/// <summary>Hyperparameters of <see cref="InstructionTrainer"/>; the defaults are the book's (chapter 7).</summary>
public sealed record InstructionTuningOptions
{
    /// <summary>Sequences per optimizer step.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; init; } = 2;

    /// <summary>AdamW's learning rate.</summary>
    public double LearningRate { get; init; } = 5e-5;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Evaluate every this many steps (and after the last one); 0 evaluates after each epoch only.</summary>
    public int EvaluationInterval { get; init; } = 5;

    /// <summary>Rows keep at most this many tokens (the book: 1024).</summary>
    public int AllowedMaxLength { get; init; } = 1024;

    /// <summary>Whether only response tokens are learned (prompt targets masked; the book's exercise 7.2).</summary>
    public bool MaskPrompt { get; init; }

    /// <summary>The end-of-text token that ends each row and pads batches (GPT-2's <c>&lt;|endoftext|&gt;</c> is 50256).</summary>
    public int EndOfTextId { get; init; } = Gpt2Tokenizer.EndOfTextId;

    /// <summary>Seed of the shuffling and of dropout.</summary>
    public int Seed { get; init; } = 123;

    /// <summary>Throws when an option is out of range.</summary>
    public void Validate()
    {
        if (BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        if (Epochs < 1)
            throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        if (LearningRate <= 0)
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be positive.");
        if (WeightDecay < 0)
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "WeightDecay cannot be negative.");
        if (EvaluationInterval < 0)
            throw new ArgumentOutOfRangeException(nameof(EvaluationInterval), EvaluationInterval, "EvaluationInterval cannot be negative.");
        if (AllowedMaxLength < 2)
            throw new ArgumentOutOfRangeException(nameof(AllowedMaxLength), AllowedMaxLength, "AllowedMaxLength must be at least 2.");
    }
}
