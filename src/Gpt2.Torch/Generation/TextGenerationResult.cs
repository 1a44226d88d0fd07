namespace Gpt2.Torch.Generation;

/// <summary>Why <see cref="Gpt2TextGenerationService"/> stopped writing.</summary>
public enum TextGenerationFinishReason
{
    /// <summary>The model wrote <c>&lt;|endoftext|&gt;</c> (not part of the text).</summary>
    EndOfText,

    /// <summary>The text reached one of <see cref="GenerationOptions.StopStrings"/>, or the tokens one of <see cref="GenerationOptions.StopSequences"/> (not part of the text).</summary>
    StopString,

    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> tokens were written.</summary>
    Length,
}

/// <summary>The text written for one prompt, with its token counts, why it ended and how long it took.</summary>
/// <remarks>
/// Two results are equal when they say the same: their text, finish reason, counts and log-probabilities;
/// <see cref="TimeToFirstToken"/> and <see cref="TimeToLastToken"/> (how long it took) are not compared.
/// </remarks>
/// <param name="Text">The continuation of the prompt (not the prompt), before any stop string, stop sequence or <c>&lt;|endoftext|&gt;</c>.</param>
/// <param name="FinishReason">Why generation stopped.</param>
/// <param name="PromptTokenCount">Tokens of the prompt the model read (after <paramref name="DroppedPromptTokenCount"/> were dropped).</param>
/// <param name="CompletionTokenCount">Tokens the model generated, including the one that completed a stop string or was <c>&lt;|endoftext|&gt;</c>.</param>
/// <param name="DroppedPromptTokenCount">
/// Tokens cut from the start of a prompt longer than the context length minus <see cref="GenerationOptions.MaxNewTokens"/>:
/// the prompt keeps its last tokens, so the model saw only its end. 0 when the whole prompt fitted.
/// </param>
public sealed record TextGenerationResult(string Text, TextGenerationFinishReason FinishReason, int PromptTokenCount, int CompletionTokenCount,
    int DroppedPromptTokenCount)
{
    /// <summary>Whether the start of the prompt was cut to fit the context (see <see cref="DroppedPromptTokenCount"/>).</summary>
    public bool PromptWasTruncated => DroppedPromptTokenCount > 0;

    /// <summary>
    /// One entry per generated token (<see cref="CompletionTokenCount"/> of them) when
    /// <see cref="GenerationOptions.LogProbabilities"/> was set; null otherwise.
    /// </summary>
    public IReadOnlyList<GeneratedTokenLogProbability>? LogProbabilities { get; init; }

    /// <summary>
    /// From the call (its submission to the host) to the first generated token: the wait for a place in the running
    /// batch and the prompt's prefill, what vLLM reports as time to first token.
    /// </summary>
    public TimeSpan TimeToFirstToken { get; init; }

    /// <summary>
    /// From the call to the last generated token: the request's latency in the engine. The gaps between tokens average
    /// (<see cref="TimeToLastToken"/> - <see cref="TimeToFirstToken"/>) / (<see cref="CompletionTokenCount"/> - 1).
    /// </summary>
    public TimeSpan TimeToLastToken { get; init; }

    /// <inheritdoc/>
    public bool Equals(TextGenerationResult? other) =>
        other is not null && Text == other.Text && FinishReason == other.FinishReason && PromptTokenCount == other.PromptTokenCount
        && CompletionTokenCount == other.CompletionTokenCount && DroppedPromptTokenCount == other.DroppedPromptTokenCount
        && Equals(LogProbabilities, other.LogProbabilities);

    /// <inheritdoc/>
    public override int GetHashCode() =>
        HashCode.Combine(Text, FinishReason, PromptTokenCount, CompletionTokenCount, DroppedPromptTokenCount, LogProbabilities);
}
