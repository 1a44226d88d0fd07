namespace Gpt2.Torch.Generation;

/// <summary>How <see cref="Gpt2Generator"/> chooses tokens and when it stops.</summary>
/// <remarks>
/// Generation stops after <see cref="MaxNewTokens"/>, or as soon as the generated tokens end with
/// <see cref="EndOfTextId"/>, one of <see cref="StopSequences"/>, or text that contains one of <see cref="StopStrings"/>.
/// The stop is kept at the end of the output: tokens are streamed as they are produced, before a multi-token stop is
/// recognised, so keeping it is the one rule under which the streamed tokens and the returned ones agree.
/// Only generated tokens count: a stop that begins in the prompt does not stop generation.
/// </remarks>
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

    /// <summary>Token sequences that stop generation once the output ends with one of them (kept in the output).</summary>
    public IReadOnlyList<IReadOnlyList<int>> StopSequences { get; init; } = [];

    /// <summary>
    /// Strings that stop generation once the decoded output contains one of them; the token that completes the string is
    /// the last one returned. Matching happens on text, so it does not depend on how the string is split into tokens.
    /// Needs a generator created with a tokenizer.
    /// </summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>
    /// Seed of the sampling generator, for reproducible sampling. A batch draws for all its rows at once, so a sampled
    /// row of a batch differs from the same prompt sampled alone with the same seed (greedy rows are identical).
    /// </summary>
    public long? Seed { get; init; }

    /// <summary>Whether to reuse keys and values of earlier tokens (much faster; the same output).</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Whether sampling is greedy.</summary>
    public bool IsGreedy => Temperature == 0;

    /// <summary>Throws when an option is out of range.</summary>
    public void Validate()
    {
        OptionChecks.AtLeast(MaxNewTokens, 0, nameof(MaxNewTokens), "50");
        OptionChecks.NonNegative(Temperature, nameof(Temperature), "0 for greedy decoding, or 0.7 to sample");
        if (TopK is int topK)
            OptionChecks.AtLeast(topK, 1, nameof(TopK), "25, or null to keep every token");
        if (TopP is double topP)
            OptionChecks.Fraction(topP, nameof(TopP), "0.9, or null to keep every token");
        if (StopSequences is null || StopSequences.Any(sequence => sequence is null || sequence.Count == 0))
            throw new ArgumentException("StopSequences cannot hold an empty sequence; give each stop at least one token.", nameof(StopSequences));
        if (StopStrings is null || StopStrings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("StopStrings cannot hold an empty string.", nameof(StopStrings));
    }
}
