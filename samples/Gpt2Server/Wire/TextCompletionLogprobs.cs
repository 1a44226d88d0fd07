using Gpt2.Torch.Generation;

namespace Gpt2Server.Wire;

/// <summary>
/// OpenAI's legacy completions <c>choices[i].logprobs</c>, one entry per generated token in each list (in a streamed
/// chunk, per token of that chunk): its text, its log-probability, the <c>logprobs</c> most likely tokens at its step
/// with the chosen one added when it is not among them (token text to log-probability), and where its text starts in
/// the completion (characters, counting on across a stream's chunks).
/// </summary>
public sealed record TextCompletionLogprobs(IReadOnlyList<string> Tokens, IReadOnlyList<double> TokenLogprobs,
    IReadOnlyList<IReadOnlyDictionary<string, double>> TopLogprobs, IReadOnlyList<int> TextOffset)
{
    /// <summary>The wire shape of <paramref name="tokens"/>; <paramref name="texts"/> keeps the text offset across calls.</summary>
    internal static TextCompletionLogprobs Of(IReadOnlyList<GeneratedTokenLogProbability> tokens, TokenTexts texts)
    {
        var top = new List<IReadOnlyDictionary<string, double>>(tokens.Count);
        foreach (GeneratedTokenLogProbability token in tokens)
        {
            // Two tokens can share a text (partial UTF-8 characters both show U+FFFD); the more likely one keeps it.
            var alternatives = new Dictionary<string, double>();
            foreach (TokenLogProbability alternative in token.TopLogProbabilities)
                alternatives.TryAdd(texts.Text(alternative.TokenId), TokenTexts.Logprob(alternative.LogProbability));
            alternatives.TryAdd(texts.Text(token.TokenId), TokenTexts.Logprob(token.LogProbability));
            top.Add(alternatives);
        }
        return new([.. tokens.Select(token => texts.Text(token.TokenId))], [.. tokens.Select(token => TokenTexts.Logprob(token.LogProbability))],
            top, [.. tokens.Select(token => texts.NextOffset(token.TokenId))]);
    }
}
