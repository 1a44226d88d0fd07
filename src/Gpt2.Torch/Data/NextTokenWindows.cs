namespace Gpt2.Torch.Data;

/// <summary>
/// Next-token prediction pairs cut from a token sequence with a sliding window (the book's <c>GPTDatasetV1</c>):
/// window i starts at token i x stride; its input is <c>MaxLength</c> tokens and its target the same tokens shifted by one.
/// </summary>
public sealed class NextTokenWindows
{
    private readonly IReadOnlyList<int> _tokens;

    /// <summary>Creates the windows over <paramref name="tokenIds"/>.</summary>
    /// <param name="tokenIds">The token sequence.</param>
    /// <param name="maxLength">Tokens per input (at most the model's context length).</param>
    /// <param name="stride">Tokens between the starts of consecutive windows; equal to <paramref name="maxLength"/> for no overlap.</param>
    public NextTokenWindows(IReadOnlyList<int> tokenIds, int maxLength, int stride)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        OptionChecks.AtLeast(maxLength, 1, nameof(maxLength), "256");
        OptionChecks.AtLeast(stride, 1, nameof(stride), "maxLength, for windows that do not overlap");
        _tokens = tokenIds;
        MaxLength = maxLength;
        Stride = stride;
        // Python's range(0, len - maxLength, stride): every window leaves room for its shifted target.
        Count = tokenIds.Count > maxLength ? (tokenIds.Count - maxLength + stride - 1) / stride : 0;
    }

    /// <summary>Tokens per input and per target.</summary>
    public int MaxLength { get; }

    /// <summary>Tokens between window starts.</summary>
    public int Stride { get; }

    /// <summary>Number of windows.</summary>
    public int Count { get; }

    /// <summary>Window <paramref name="index"/>: its input tokens and its targets (the next token of each).</summary>
    public (int[] Input, int[] Target) this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            int start = index * Stride;
            var input = new int[MaxLength];
            var target = new int[MaxLength];
            for (int i = 0; i < MaxLength; i++)
            {
                input[i] = _tokens[start + i];
                target[i] = _tokens[start + i + 1];
            }
            return (input, target);
        }
    }
}
