using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Generation;

/// <summary>
/// How <see cref="Gpt2TextGenerationService"/> writes text: sampling (<see cref="Temperature"/>, <see cref="TopK"/>,
/// <see cref="TopP"/>, <see cref="Seed"/>) and stopping (<see cref="MaxNewTokens"/>, <see cref="StopStrings"/>,
/// <see cref="StopAtEndOfText"/>).
/// </summary>
/// <remarks>
/// Unlike the token-level <see cref="GenerationOptions"/>, whose stops stay at the end of the output, the text of a
/// <see cref="TextGenerationResult"/> ends <em>before</em> the first stop string and before <c>&lt;|endoftext|&gt;</c>,
/// as chat APIs do. The defaults decode greedily, stop at <c>&lt;|endoftext|&gt;</c> and write at most 50 tokens.
/// </remarks>
public sealed record TextGenerationOptions
{
    /// <summary>Most tokens to generate; at least 1 and less than the model's context length (a prompt keeps its last context length minus this many tokens).</summary>
    public int MaxNewTokens { get; init; } = 50;

    /// <summary>Softmax temperature; 0 (the default) picks the most likely token (greedy decoding).</summary>
    public double Temperature { get; init; }

    /// <summary>When set, sample only among the <c>TopK</c> most likely tokens.</summary>
    public int? TopK { get; init; }

    /// <summary>When set, sample only among the most likely tokens whose probabilities add up to <c>TopP</c> (nucleus sampling).</summary>
    public double? TopP { get; init; }

    /// <summary>Texts that end generation: the text stops before the first of them, wherever the tokens split it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Seed of sampling, for reproducible output (see <see cref="GenerationOptions.Seed"/> for batches).</summary>
    public long? Seed { get; init; }

    /// <summary>Whether <c>&lt;|endoftext|&gt;</c> ends generation (true, the default); when false it is written as text like any token.</summary>
    public bool StopAtEndOfText { get; init; } = true;

    /// <summary>The token-level options the generator runs with.</summary>
    internal GenerationOptions ToGenerationOptions() => new()
    {
        MaxNewTokens = MaxNewTokens,
        Temperature = Temperature,
        TopK = TopK,
        TopP = TopP,
        StopStrings = StopStrings,
        Seed = Seed,
        EndOfTextId = StopAtEndOfText ? Gpt2Tokenizer.EndOfTextId : null,
    };

    /// <summary>Throws when an option is out of range.</summary>
    public void Validate()
    {
        ToGenerationOptions().Validate();
        OptionChecks.AtLeast(MaxNewTokens, 1, nameof(MaxNewTokens), "256");
    }

    /// <summary>Throws when an option is out of range or does not fit a model of <paramref name="contextLength"/> tokens.</summary>
    public void Validate(int contextLength)
    {
        Validate();
        OptionChecks.Check(MaxNewTokens < contextLength, nameof(MaxNewTokens), MaxNewTokens,
            $"less than the model's context length of {contextLength}, to leave room for the prompt");
    }
}
