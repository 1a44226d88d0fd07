using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Data;

/// <summary>Sequences of different lengths as one int64 tensor, right-padded to the longest.</summary>
internal static class RightPaddedBatch
{
    /// <summary>Token ids [batch, longest] and real lengths [batch]; the caller disposes both.</summary>
    /// <param name="sequences">The sequences, each with at least one token.</param>
    /// <param name="device">Where the tensors go (to a GPU, copied from pinned memory without waiting); the CPU when null.</param>
    /// <param name="paddingId">The id that fills the padding; GPT-2's <c>&lt;|endoftext|&gt;</c> by default, as in the book.</param>
    /// <param name="vocabularySize">The model's vocabulary size: every id is checked against it on the host; null leaves them unchecked.</param>
    /// <exception cref="ArgumentOutOfRangeException">A sequence holds an id outside [0, <paramref name="vocabularySize"/>).</exception>
    public static (Tensor InputIds, Tensor Lengths) Create(IReadOnlyList<int[]> sequences, Device? device = null, int paddingId = Gpt2Tokenizer.EndOfTextTokenId,
        int? vocabularySize = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
            throw new ArgumentException("The batch holds no sequences.", nameof(sequences));
        int longest = sequences.Max(s => s.Length);
        if (longest == 0 || sequences.Any(s => s.Length == 0))
            throw new ArgumentException("Every sequence needs at least one token.", nameof(sequences));
        var ids = new long[sequences.Count * longest];
        Array.Fill(ids, (long)paddingId);
        var lengths = new long[sequences.Count];
        for (int row = 0; row < sequences.Count; row++)
        {
            int[] sequence = sequences[row];
            if (vocabularySize is int size)
                TokenIds.Check(sequence, size, nameof(sequences), $"sequence {row}");
            for (int i = 0; i < sequence.Length; i++)
                ids[row * longest + i] = sequence[i];
            lengths[row] = sequence.Length;
        }
        Device target = device ?? CPU;
        return (HostBatch.Int64(ids, [sequences.Count, longest], target), HostBatch.Int64(lengths, [sequences.Count], target));
    }
}
