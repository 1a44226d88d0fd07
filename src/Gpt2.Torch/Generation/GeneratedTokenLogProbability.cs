namespace Gpt2.Torch.Generation;

/// <summary>
/// A generated token's log-probability and the most likely alternatives at its step, all from the distribution it was
/// drawn from (see <see cref="GenerationOptions.LogProbabilities"/>); OpenAI's <c>logprobs.content[i]</c>.
/// </summary>
/// <param name="TokenId">The generated token.</param>
/// <param name="LogProbability">Its log-probability (natural logarithm).</param>
/// <param name="TopLogProbabilities">
/// The <see cref="GenerationOptions.LogProbabilities"/> most likely tokens at that step, most likely first (the
/// generated token among them when it is one of them; with greedy decoding it is the first).
/// </param>
public sealed record GeneratedTokenLogProbability(int TokenId, double LogProbability, IReadOnlyList<TokenLogProbability> TopLogProbabilities);
