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

    /// <summary>The first whole number from 0 to 100 in a judge's reply, or null when there is none.</summary>
    public static int? ParseScore(string reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        foreach (Match match in Integer().Matches(reply))
        {
            if (int.TryParse(match.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int score) && score <= 100)
                return score;
        }
        return null;
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

    [GeneratedRegex(@"(?<!\d)\d{1,3}(?!\d)")]
    private static partial Regex Integer();
}
