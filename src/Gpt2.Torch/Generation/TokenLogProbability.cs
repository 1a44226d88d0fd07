namespace Gpt2.Torch.Generation;

/// <summary>A token and its log-probability (natural logarithm) under the distribution a generated token was drawn from.</summary>
/// <param name="TokenId">The token.</param>
/// <param name="LogProbability">Its log-probability, 0 or below; minus infinity for a token the processors ruled out.</param>
public sealed record TokenLogProbability(int TokenId, double LogProbability);
