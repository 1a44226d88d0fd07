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

/// <summary>The text written for one prompt, with its token counts and why it ended.</summary>
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
}
