namespace Gpt2.Torch.Generation;

/// <summary>
/// How a generation chooses tokens and when it stops: the one options record of every front end (the generator, the
/// text generation service, the chat client, the ML.NET text generator and instruction tuner, the server), after
/// vLLM's <c>SamplingParams</c>.
/// </summary>
/// <remarks>
/// <para>Each step, the row's logits go through the logits processors in this order, each seeing the row's tokens so
/// far (prompt and generated): <see cref="LogitBias"/>, <see cref="RepetitionPenalty"/>, <see cref="FrequencyPenalty"/>
/// and <see cref="PresencePenalty"/>, then <see cref="Temperature"/>, <see cref="TopK"/>, <see cref="TopP"/> and
/// <see cref="MinP"/>. Greedy decoding (temperature 0) takes the most likely token of the processed logits; sampling
/// draws from their softmax. <see cref="LogProbabilities"/> come from that same distribution (vLLM's "processed" log
/// probabilities): log-softmax of the logits after every processor, temperature included (greedy: after the penalties
/// and bias, at temperature 1).</para>
/// <para>Generation stops after <see cref="MaxNewTokens"/>, at the model's end-of-text token (unless
/// <see cref="StopAtEndOfText"/> is false), at one of <see cref="StopSequences"/> or at text that contains one of
/// <see cref="StopStrings"/>. Only generated tokens count: a stop that begins in the prompt does not stop generation.
/// Token results (<see cref="Gpt2Generator"/>) keep the stop at the end of the output, the one rule under which
/// streamed and returned tokens agree; text results (<see cref="Gpt2TextGenerationService"/>) end before it, as chat
/// APIs do.</para>
/// </remarks>
public sealed record GenerationOptions
{
    /// <summary>The most log-probability alternatives a token can report (OpenAI's <c>top_logprobs</c> limit).</summary>
    public const int MaxLogProbabilities = 20;

    /// <summary>Most tokens to add after the prompt.</summary>
    public int MaxNewTokens { get; init; } = 50;

    /// <summary>Softmax temperature; 0 (the default) picks the most likely token (greedy decoding).</summary>
    public double Temperature { get; init; }

    /// <summary>When set, sample only among the <c>TopK</c> most likely tokens (and any tied with the last of them).</summary>
    public int? TopK { get; init; }

    /// <summary>When set, sample only among the most likely tokens whose probabilities, after <see cref="Temperature"/> and <see cref="TopK"/>, add up to <c>TopP</c> (nucleus sampling).</summary>
    public double? TopP { get; init; }

    /// <summary>When set, sample only among tokens at least <c>MinP</c> times as likely as the most likely one, after <see cref="Temperature"/> (0 to 1).</summary>
    public double? MinP { get; init; }

    /// <summary>
    /// Hugging Face's repetition penalty over every token of the row (prompt and generated): a seen token's logit is
    /// divided by it when positive and multiplied by it when negative. 1 (or null) leaves the logits alone; above 1
    /// discourages repeats.
    /// </summary>
    public double? RepetitionPenalty { get; init; }

    /// <summary>OpenAI's frequency penalty (-2 to 2): subtracted from a token's logit once per time it was generated (prompt tokens do not count).</summary>
    public double? FrequencyPenalty { get; init; }

    /// <summary>OpenAI's presence penalty (-2 to 2): subtracted from the logit of every token generated at least once (prompt tokens do not count).</summary>
    public double? PresencePenalty { get; init; }

    /// <summary>OpenAI's logit bias: token id to a value from -100 to 100 added to its logit (-100 bans a token, 100 all but forces it).</summary>
    public IReadOnlyDictionary<int, double> LogitBias { get; init; } = new Dictionary<int, double>();

    /// <summary>
    /// Seed of the row's sampling generator, for reproducible sampling; every row has its own, so a row sampled in a
    /// batch or beside other requests draws what it draws alone.
    /// </summary>
    public long? Seed { get; init; }

    /// <summary>Texts that end generation once the decoded output contains one of them, wherever the tokens split it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Token sequences that end generation once the generated tokens end with one of them (a single stop token is a sequence of one).</summary>
    public IReadOnlyList<IReadOnlyList<int>> StopSequences { get; init; } = [];

    /// <summary>Whether the model's end-of-text token (GPT-2's <c>&lt;|endoftext|&gt;</c>, 50256) ends generation (true, the default).</summary>
    public bool StopAtEndOfText { get; init; } = true;

    /// <summary>
    /// When set, each generated token reports its log-probability and the <c>LogProbabilities</c> most likely
    /// alternatives (0 to <see cref="MaxLogProbabilities"/>), from the distribution it was drawn from (see the remarks).
    /// Null (the default) computes none.
    /// </summary>
    public int? LogProbabilities { get; init; }

    /// <summary>
    /// When set, the output is one JSON document of this shape (see <see cref="Generation.StructuredOutput"/>): a logits
    /// processor masks every token that cannot continue it, after the penalties and before the sampling filters, and
    /// allows only the end-of-text and end-of-turn tokens once it is whole. Null (the default) leaves the text free.
    /// <see cref="Validate()"/> compiles the schema (once; it is kept), so that a keyword outside the supported subset
    /// fails before any decoding.
    /// </summary>
    public StructuredOutput? StructuredOutput { get; init; }

    /// <summary>Whether decoding is greedy (temperature 0).</summary>
    public bool IsGreedy => Temperature == 0;

    /// <summary>Throws when an option is out of range.</summary>
    /// <exception cref="ArgumentException">An option is out of range, or the structured output's schema is malformed or admits no document.</exception>
    /// <exception cref="NotSupportedException">The structured output's schema uses a keyword outside the supported subset (named, with its place).</exception>
    public void Validate()
    {
        OptionChecks.AtLeast(MaxNewTokens, 1, nameof(MaxNewTokens), "50");
        OptionChecks.NonNegative(Temperature, nameof(Temperature), "0 for greedy decoding, or 0.7 to sample");
        if (TopK is int topK)
            OptionChecks.AtLeast(topK, 1, nameof(TopK), "25, or null to keep every token");
        if (TopP is double topP)
            OptionChecks.Fraction(topP, nameof(TopP), "0.9, or null to keep every token");
        if (MinP is double minP)
            OptionChecks.Check(minP is >= 0 and <= 1, nameof(MinP), minP, "from 0 to 1 (for example 0.05, or null to keep every token)");
        if (RepetitionPenalty is double repetition)
            OptionChecks.Positive(repetition, nameof(RepetitionPenalty), "1.2, or null for none");
        if (FrequencyPenalty is double frequency)
            OptionChecks.Check(frequency is >= -2 and <= 2, nameof(FrequencyPenalty), frequency, "from -2 to 2 (for example 0.5, or null for none)");
        if (PresencePenalty is double presence)
            OptionChecks.Check(presence is >= -2 and <= 2, nameof(PresencePenalty), presence, "from -2 to 2 (for example 0.5, or null for none)");
        if (LogitBias is null)
            throw new ArgumentException("LogitBias cannot be null; leave it empty for no bias.", nameof(LogitBias));
        foreach ((int token, double bias) in LogitBias)
        {
            OptionChecks.Check(token >= 0, $"{nameof(LogitBias)} key", token, "a token id, 0 or above");
            OptionChecks.Check(bias is >= -100 and <= 100, $"{nameof(LogitBias)}[{token}]", bias, "from -100 to 100");
        }
        if (LogProbabilities is int logProbabilities)
            OptionChecks.InRange(logProbabilities, 0, MaxLogProbabilities, nameof(LogProbabilities), "5, or 0 for the chosen token's alone");
        if (StopSequences is null || StopSequences.Any(sequence => sequence is null || sequence.Count == 0))
            throw new ArgumentException("StopSequences cannot hold an empty sequence; give each stop at least one token.", nameof(StopSequences));
        if (StopStrings is null || StopStrings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("StopStrings cannot hold an empty string.", nameof(StopStrings));
        if (StructuredOutput is not null)
        {
            if (!StopAtEndOfText)
                throw new ArgumentException(
                    "A StructuredOutput ends at the end-of-text token, which StopAtEndOfText = false would write into the text; leave StopAtEndOfText true.",
                    nameof(StopAtEndOfText));
            Structured.JsonGrammar.For(StructuredOutput);   // compiled now (and kept), so that a schema outside the subset fails before decoding
        }
    }

    /// <summary>Throws when an option is out of range or does not fit a model of <paramref name="contextLength"/> tokens.</summary>
    public void Validate(int contextLength)
    {
        Validate();
        OptionChecks.Check(MaxNewTokens < contextLength, nameof(MaxNewTokens), MaxNewTokens,
            $"less than the model's context length of {contextLength}, to leave room for the prompt");
    }

    /// <summary>Throws when a token id of <see cref="LogitBias"/> or <see cref="StopSequences"/> is outside a vocabulary of <paramref name="vocabularySize"/> tokens.</summary>
    public void ValidateTokenIds(int vocabularySize)
    {
        foreach (int token in LogitBias.Keys)
            OptionChecks.Check(token < vocabularySize, $"{nameof(LogitBias)} key", token, $"a token id below the vocabulary size of {vocabularySize}");
        foreach (int token in StopSequences.SelectMany(sequence => sequence))
            OptionChecks.Check(token >= 0 && token < vocabularySize, $"{nameof(StopSequences)} token", token, $"a token id from 0 to {vocabularySize - 1}");
    }
}
