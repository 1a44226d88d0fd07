namespace Gpt2.Torch.Generation;

/// <summary>How <see cref="Gpt2Generator"/> chooses tokens and when it stops.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to add after the prompt.</summary>
    public int MaxNewTokens { get; init; } = 50;

    /// <summary>Softmax temperature; 0 picks the most likely token (greedy decoding).</summary>
    public double Temperature { get; init; }

    /// <summary>When set, sample only among the <c>TopK</c> most likely tokens.</summary>
    public int? TopK { get; init; }

    /// <summary>When set, sample only among the most likely tokens whose probabilities add up to <c>TopP</c> (nucleus sampling).</summary>
    public double? TopP { get; init; }

    /// <summary>Stop after this token (it is kept in the output); GPT-2's <c>&lt;|endoftext|&gt;</c> is 50256. Null never stops early.</summary>
    public int? EndOfTextId { get; init; }

    /// <summary>Seed of the sampling generator, for reproducible sampling.</summary>
    public long? Seed { get; init; }

    /// <summary>Whether to reuse keys and values of earlier tokens (much faster; the same output).</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Whether sampling is greedy.</summary>
    public bool IsGreedy => Temperature == 0;

    /// <summary>Throws when an option is out of range.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens cannot be negative.");
        if (Temperature < 0 || double.IsNaN(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be 0 (greedy) or positive.");
        if (TopK is <= 0)
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be positive.");
        if (TopP is <= 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
    }
}
