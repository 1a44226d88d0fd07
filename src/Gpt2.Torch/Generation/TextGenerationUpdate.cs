namespace Gpt2.Torch.Generation;

/// <summary>
/// A piece of a streamed generation (<see cref="TextGenerationStream.Updates"/>): its text and the log-probabilities of
/// the tokens generated since the previous update.
/// </summary>
/// <param name="Text">Whole characters, never part of a stop string; may be empty on the last update.</param>
/// <param name="LogProbabilities">
/// One entry per token generated since the previous update (a token whose text is held back reports here before its
/// text arrives); empty unless <see cref="GenerationOptions.LogProbabilities"/> was set.
/// </param>
public sealed record TextGenerationUpdate(string Text, IReadOnlyList<GeneratedTokenLogProbability> LogProbabilities);
