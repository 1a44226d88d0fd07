using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.AI.Evaluation;

namespace Microsoft.ML.Gpt2.Evaluation;

/// <summary>
/// The book's LLM judge (chapter 7.8) as an <see cref="IEvaluator"/> of Microsoft.Extensions.AI.Evaluation, over any
/// <see cref="IChatClient"/>: Ollama through OllamaSharp's <c>OllamaApiClient</c>, any OpenAI-compatible endpoint through
/// Microsoft.Extensions.AI.OpenAI, or a model of our own. It asks the judge, with the book's prompt, to score the model's
/// response to the conversation's last user message against the reference answer (<see cref="ReferenceResponseContext"/>)
/// from 0 to 100, deterministically (temperature 0, seed 123), and returns the score as the numeric metric
/// <see cref="ScoreMetricName"/>; a reply without a readable score gives a metric without a value and an error diagnostic.
/// </summary>
/// <param name="contextSize">
/// The judge's context window where the server takes one per request: the book sets 2048 for Ollama (sent as the
/// <c>num_ctx</c> option, which OllamaSharp maps); null sends none (an OpenAI endpoint refuses options it does not know).
/// </param>
public sealed partial class ResponseJudgeEvaluator(int? contextSize = null) : IEvaluator
{
    /// <summary>The name of the metric this evaluator returns: the judge's score from 0 to 100.</summary>
    public const string ScoreMetricName = "Score";

    /// <summary>The seed the book gives the judge.</summary>
    public const int JudgeSeed = 123;

    /// <inheritdoc />
    public IReadOnlyCollection<string> EvaluationMetricNames => [ScoreMetricName];

    /// <summary>The options of every request to the judge: temperature 0, seed 123 and, when set, the context size.</summary>
    public ChatOptions JudgeOptions
    {
        get
        {
            var options = new ChatOptions { Temperature = 0, Seed = JudgeSeed };
            if (contextSize is int size)
                options.AdditionalProperties = new() { ["num_ctx"] = size };
            return options;
        }
    }

    /// <summary>The book's scoring prompt.</summary>
    /// <param name="formattedInput">The prompt the model answered (instruction and input in the prompt format).</param>
    /// <param name="reference">The correct output.</param>
    /// <param name="response">The model's response.</param>
    internal static string ScorePrompt(string formattedInput, string reference, string response) =>
        $"Given the input `{formattedInput}` and correct output `{reference}`, score the model response `{response}` " +
        "on a scale from 0 to 100, where 100 is the best score. Respond with the integer number only.";

    /// <summary>
    /// Scores <paramref name="modelResponse"/>, the answer to the last user message of <paramref name="messages"/>, with the
    /// judge of <paramref name="chatConfiguration"/> against the <see cref="ReferenceResponseContext"/> in
    /// <paramref name="additionalContext"/>.
    /// </summary>
    /// <exception cref="ArgumentException">No chat configuration, no user message, or no reference response was given.</exception>
    public async ValueTask<EvaluationResult> EvaluateAsync(IEnumerable<ChatMessage> messages, ChatResponse modelResponse,
        ChatConfiguration? chatConfiguration = null, IEnumerable<EvaluationContext>? additionalContext = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(modelResponse);
        IChatClient judge = chatConfiguration?.ChatClient
            ?? throw new ArgumentException("The judge needs a ChatConfiguration with the judge's IChatClient.", nameof(chatConfiguration));
        string input = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text
            ?? throw new ArgumentException("The conversation has no user message: the judge scores the answer to the last one.", nameof(messages));
        ReferenceResponseContext reference = additionalContext?.OfType<ReferenceResponseContext>().FirstOrDefault()
            ?? throw new ArgumentException($"Pass the correct answer as a {nameof(ReferenceResponseContext)} in additionalContext.", nameof(additionalContext));

        ChatResponse reply = await judge.GetResponseAsync([new ChatMessage(ChatRole.User, ScorePrompt(input, reference.Response, modelResponse.Text))],
            JudgeOptions, cancellationToken).ConfigureAwait(false);
        int? score = ParseScore(reply.Text);
        var metric = new NumericMetric(ScoreMetricName, score, reason: reply.Text);
        if (score is null)
            metric.AddDiagnostics(EvaluationDiagnostic.Error($"The judge's reply holds no readable 0-100 score: '{reply.Text}'."));
        return new EvaluationResult(metric);
    }

    /// <summary>
    /// The 0-100 score a judge's reply gives, or null when it gives none that can be read without guessing. In order:
    /// a number out of 100 (<c>85/100</c>, <c>78 out of 100</c>); a number after a scoring word (<c>Score: 72</c>,
    /// <c>**Score:** 88</c>, <c>scores 65</c>, <c>I would give it 85</c>, <c>this gets a 90</c>); else the reply's only
    /// number (<c>90</c>). Mentions of the scale itself (<c>on a scale from 0 to 100</c>) are not scores. A number out of
    /// anything else (<c>8/10</c>), a negative or fractional number, or one above 100 is never read as a score, and a
    /// reply with several bare numbers and no scoring word gives null.
    /// </summary>
    internal static int? ParseScore(string reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        string text = ScaleMention().Replace(reply, " ");
        Match[] numbers = [.. ScoreNumber().Matches(text).Cast<Match>()];
        static int? Valid(Match number) =>
            number.Groups["sign"].Success || number.Groups["fraction"].Success
            || (number.Groups["outOf"].Success && number.Groups["outOf"].Value != "100")
            || !int.TryParse(number.Groups["value"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int score) || score > 100
                ? null : score;

        if (numbers.FirstOrDefault(n => n.Groups["outOf"].Value == "100") is { } outOfHundred)
            return Valid(outOfHundred);
        if (ScoringWord().Match(text) is { Success: true } word)
            return numbers.FirstOrDefault(n => n.Index >= word.Index + word.Length) is { } afterWord ? Valid(afterWord) : null;
        int?[] scores = [.. numbers.Select(Valid).Where(score => score is not null)];
        return scores.Length == 1 ? scores[0] : null;
    }

    // "on a scale from 0 to 100", "(0-100)", "between 0 and 100": the scale, not a score.
    [GeneratedRegex(@"\b(?:from|of|between)?\s*0\s*(?:to|-|\u2013|and)\s*100\b", RegexOptions.IgnoreCase)]
    private static partial Regex ScaleMention();

    // A number with its sign, fraction and "/N" or "out of N", so that -5, 7.5 and 8/10 are seen whole and refused.
    [GeneratedRegex(@"(?<![\w.])(?<sign>[-\u2212]\s*)?(?<value>\d+)(?<fraction>[.,]\d+)?(?:\s*(?:/|out\s+of)\s*(?<outOf>\d+))?", RegexOptions.IgnoreCase)]
    private static partial Regex ScoreNumber();

    [GeneratedRegex(@"\b(?:score[sd]?|rating|rate[sd]?|grade[sd]?|give\s+it(?:\s+an?)?|gets?\s+an?)\b", RegexOptions.IgnoreCase)]
    private static partial Regex ScoringWord();
}
