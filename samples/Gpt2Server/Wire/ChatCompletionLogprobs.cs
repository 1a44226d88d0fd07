using Gpt2.Torch.Generation;

namespace Gpt2Server.Wire;

/// <summary>
/// OpenAI's chat <c>choices[i].logprobs</c>: one entry per generated token (in a streamed chunk, per token of that chunk),
/// null when <c>logprobs</c> was not asked for.
/// </summary>
public sealed record ChatCompletionLogprobs(IReadOnlyList<ChatCompletionTokenLogprob> Content)
{
    /// <summary>The wire shape of <paramref name="tokens"/>, their text and bytes from <paramref name="texts"/>.</summary>
    internal static ChatCompletionLogprobs Of(IReadOnlyList<GeneratedTokenLogProbability> tokens, TokenTexts texts) =>
        new([.. tokens.Select(token => new ChatCompletionTokenLogprob(texts.Text(token.TokenId), TokenTexts.Logprob(token.LogProbability),
            texts.Bytes(token.TokenId),
            [.. token.TopLogProbabilities.Select(top => new ChatCompletionTopLogprob(texts.Text(top.TokenId), TokenTexts.Logprob(top.LogProbability), texts.Bytes(top.TokenId)))]))]);
}

/// <summary>
/// A generated token: <c>token</c> is its text (a GPT-2 token that holds part of a UTF-8 character shows U+FFFD),
/// <c>bytes</c> its raw UTF-8 bytes, <c>logprob</c> its log-probability, <c>top_logprobs</c> the most likely tokens at its step.
/// </summary>
public sealed record ChatCompletionTokenLogprob(string Token, double Logprob, IReadOnlyList<int> Bytes, IReadOnlyList<ChatCompletionTopLogprob> TopLogprobs);

/// <summary>One of the most likely tokens at a step, most likely first.</summary>
public sealed record ChatCompletionTopLogprob(string Token, double Logprob, IReadOnlyList<int> Bytes);
