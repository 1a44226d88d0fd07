using Gpt2.Torch.Data;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Instructions;

/// <summary>
/// The book's <c>custom_collate_fn</c> (chapter 7): each sequence gets one end-of-text token, the batch is padded with
/// it to its longest sequence, targets are the inputs shifted by one, and every target after the first end-of-text is
/// <see cref="IgnoreIndex"/>, which cross-entropy skips. Inputs and targets are cut to the allowed maximum length.
/// </summary>
internal sealed class InstructionCollator
{
    /// <summary>The target that cross-entropy ignores (PyTorch's default <c>ignore_index</c>).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>Creates the collator.</summary>
    /// <param name="allowedMaxLength">Inputs and targets keep at most this many tokens (the book: 1024, GPT-2's context).</param>
    /// <param name="maskPrompt">Whether the targets that are prompt tokens are <see cref="IgnoreIndex"/> too, so only responses are learned (the book's exercise 7.2).</param>
    /// <param name="paddingId">The end-of-text token that ends each sequence and pads the batch.</param>
    public InstructionCollator(int allowedMaxLength = 1024, bool maskPrompt = false, int paddingId = Gpt2Tokenizer.EndOfTextTokenId)
    {
        OptionChecks.AtLeast(allowedMaxLength, 1, nameof(allowedMaxLength), "1024, GPT-2's context");
        AllowedMaxLength = allowedMaxLength;
        MaskPrompt = maskPrompt;
        PaddingId = paddingId;
    }

    /// <summary>Most tokens per row.</summary>
    public int AllowedMaxLength { get; }

    /// <summary>Whether prompt tokens are masked from the targets.</summary>
    public bool MaskPrompt { get; }

    /// <summary>The end-of-text and padding token.</summary>
    public int PaddingId { get; }

    /// <summary>Inputs and targets, int64 [batch, length]; the caller disposes both.</summary>
    /// <param name="sequences">The rows, each with at least one token.</param>
    /// <param name="device">Where the tensors go (to a GPU, copied from pinned memory without waiting); the CPU when null.</param>
    public (Tensor Inputs, Tensor Targets) Collate(IReadOnlyList<InstructionSequence> sequences, Device? device = null)
    {
        (long[] inputs, long[] targets, int length) = CollateValues(sequences);
        Device target = device ?? CPU;
        return (HostBatch.Int64(inputs, [sequences.Count, length], target), HostBatch.Int64(targets, [sequences.Count, length], target));
    }

    // The values of Collate row after row, and the row length.
    internal (long[] Inputs, long[] Targets, int Length) CollateValues(IReadOnlyList<InstructionSequence> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
            throw new ArgumentException("The batch holds no sequences.", nameof(sequences));
        for (int row = 0; row < sequences.Count; row++)
        {
            InstructionSequence sequence = sequences[row];
            if (sequence?.TokenIds is null || sequence.TokenIds.Length == 0)
                throw new ArgumentException($"Sequence {row} holds no tokens; every row needs at least one.", nameof(sequences));
            if (sequence.PromptLength < 0 || sequence.PromptLength > sequence.TokenIds.Length)
                throw new ArgumentException($"Sequence {row} has a prompt of {sequence.PromptLength} tokens, outside [0, {sequence.TokenIds.Length}].", nameof(sequences));
        }

        // Each row is its tokens plus one end-of-text, padded to the longest; inputs drop the last column, targets the first.
        int padded = sequences.Max(s => s.TokenIds.Length) + 1;
        int length = Math.Min(padded - 1, AllowedMaxLength);
        var inputs = new long[sequences.Count * length];
        var targets = new long[sequences.Count * length];
        for (int row = 0; row < sequences.Count; row++)
        {
            int[] tokens = sequences[row].TokenIds;
            int masked = MaskPrompt ? sequences[row].PromptLength - 1 : 0;
            for (int i = 0; i < length; i++)
            {
                inputs[row * length + i] = i < tokens.Length ? tokens[i] : PaddingId;
                targets[row * length + i] = i < masked ? IgnoreIndex
                    : i + 1 < tokens.Length ? tokens[i + 1]
                    : i + 1 == tokens.Length ? PaddingId
                    : IgnoreIndex;
            }
        }
        return (inputs, targets, length);
    }
}
