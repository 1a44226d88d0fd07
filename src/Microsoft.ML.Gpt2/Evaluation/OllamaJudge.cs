using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Microsoft.ML.Gpt2.Evaluation;

/// <summary>
/// Scores generated responses with a judge model behind an Ollama-compatible HTTP API (<c>POST /api/chat</c>), with the
/// book's prompt (chapter 7.8): the formatted input, the reference output and the model's response, scored 0 to 100.
/// </summary>
public sealed partial class OllamaJudge : IDisposable
{
    private readonly HttpClient _http;

    /// <summary>Ollama's default address.</summary>
    public static Uri DefaultEndpoint { get; } = new("http://localhost:11434/");

    /// <summary>Creates a judge.</summary>
    /// <param name="endpoint">The server; <see cref="DefaultEndpoint"/> when null.</param>
    /// <param name="model">The judge model's name on the server (the book uses <c>llama3</c>).</param>
    /// <param name="timeout">How long one answer may take; 5 minutes when null (a local model's first answer loads it).</param>
    public OllamaJudge(Uri? endpoint = null, string model = "llama3", TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        Endpoint = endpoint ?? DefaultEndpoint;
        Model = model;
        _http = new HttpClient { BaseAddress = Endpoint, Timeout = timeout ?? TimeSpan.FromMinutes(5) };
    }

    /// <summary>The server.</summary>
    public Uri Endpoint { get; }

    /// <summary>The judge model's name.</summary>
    public string Model { get; }

    /// <summary>The book's scoring prompt.</summary>
    /// <param name="formattedInput">The prompt the model answered (instruction and input in the prompt format).</param>
    /// <param name="reference">The correct output.</param>
    /// <param name="response">The model's response.</param>
    public static string ScorePrompt(string formattedInput, string reference, string response) =>
        $"Given the input `{formattedInput}` and correct output `{reference}`, score the model response `{response}` " +
        "on a scale from 0 to 100, where 100 is the best score. Respond with the integer number only.";

    /// <summary>
    /// The 0-100 score a judge's reply gives, or null when it gives none that can be read without guessing. In order:
    /// a number out of 100 (<c>85/100</c>, <c>78 out of 100</c>); a number after a scoring word (<c>Score: 72</c>,
    /// <c>**Score:** 88</c>, <c>scores 65</c>, <c>I would give it 85</c>, <c>this gets a 90</c>); else the reply's only
    /// number (<c>90</c>). Mentions of the scale itself (<c>on a scale from 0 to 100</c>) are not scores. A number out of
    /// anything else (<c>8/10</c>), a negative or fractional number, or one above 100 is never read as a score, and a
    /// reply with several bare numbers and no scoring word gives null.
    /// </summary>
    public static int? ParseScore(string reply)
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

    /// <summary>Whether the server answers at all (<c>GET /api/tags</c>); false when nothing listens there or it fails.</summary>
    public async Task<bool> IsReachableAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var probe = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(probe.Token, cancellationToken);
            using HttpResponseMessage response = await _http.GetAsync("api/tags", linked.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The judge's reply to one user message, deterministic (seed 123, temperature 0, context 2048, as the book sets).</summary>
    public async Task<string> ChatAsync(string message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var request = new JsonObject
        {
            ["model"] = Model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = message }),
            ["stream"] = false,
            ["options"] = new JsonObject { ["seed"] = 123, ["temperature"] = 0, ["num_ctx"] = 2048 },
        };
        using HttpResponseMessage response = await _http.PostAsJsonAsync("api/chat", request, cancellationToken).ConfigureAwait(false);
        string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException(
                $"The judge at {Endpoint} answered {(int)response.StatusCode} {response.ReasonPhrase}: {body.Trim()} " +
                $"(is the model '{Model}' pulled? `ollama pull {Model}`)", null, response.StatusCode);
        // A server that streams anyway sends one JSON object per line, each with a piece of the message.
        try
        {
            return string.Concat(body.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(line => JsonNode.Parse(line)?["message"]?["content"]?.GetValue<string>() ?? ""));
        }
        catch (JsonException e)
        {
            throw new HttpRequestException($"The judge at {Endpoint} did not answer in Ollama's /api/chat format: {body[..Math.Min(body.Length, 200)]}", e);
        }
    }

    /// <summary>The judge's score of <paramref name="response"/> from 0 to 100, or null when its reply holds no such number.</summary>
    public async Task<int?> ScoreAsync(string formattedInput, string reference, string response, CancellationToken cancellationToken = default) =>
        ParseScore(await ChatAsync(ScorePrompt(formattedInput, reference, response), cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    // "on a scale from 0 to 100", "(0-100)", "between 0 and 100": the scale, not a score.
    [GeneratedRegex(@"\b(?:from|of|between)?\s*0\s*(?:to|-|\u2013|and)\s*100\b", RegexOptions.IgnoreCase)]
    private static partial Regex ScaleMention();

    // A number with its sign, fraction and "/N" or "out of N", so that -5, 7.5 and 8/10 are seen whole and refused.
    [GeneratedRegex(@"(?<![\w.])(?<sign>[-\u2212]\s*)?(?<value>\d+)(?<fraction>[.,]\d+)?(?:\s*(?:/|out\s+of)\s*(?<outOf>\d+))?", RegexOptions.IgnoreCase)]
    private static partial Regex ScoreNumber();

    [GeneratedRegex(@"\b(?:score[sd]?|rating|rate[sd]?|grade[sd]?|give\s+it(?:\s+an?)?|gets?\s+an?)\b", RegexOptions.IgnoreCase)]
    private static partial Regex ScoringWord();
}
