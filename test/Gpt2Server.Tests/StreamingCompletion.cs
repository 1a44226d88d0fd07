using System.Text;
using System.Text.Json;

namespace Gpt2Server.Tests;

/// <summary>A streamed <c>/v1/completions</c> request read event by event, as an SSE client reads it.</summary>
internal sealed class StreamingCompletion : IDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader? _reader;

    private StreamingCompletion(HttpResponseMessage response, StreamReader? reader)
    {
        _response = response;
        _reader = reader;
    }

    public int Status => (int)_response.StatusCode;

    public HttpResponseMessage Response => _response;

    public static string Body(string prompt, int maxTokens) =>
        $$$"""{"model":"{{{ServerHost.ModelId}}}","prompt":{{{JsonSerializer.Serialize(prompt)}}},"max_tokens":{{{maxTokens}}},"stream":true,"stream_options":{"include_usage":true}}""";

    /// <summary>Sends the request and returns once the response's headers have come (the server answers them before generating).</summary>
    public static async Task<StreamingCompletion> StartAsync(HttpClient http, string prompt, int maxTokens)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = new StringContent(Body(prompt, maxTokens), Encoding.UTF8, "application/json"),
        };
        HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        StreamReader? reader = response.IsSuccessStatusCode ? new StreamReader(await response.Content.ReadAsStreamAsync()) : null;
        return new StreamingCompletion(response, reader);
    }

    /// <summary>The error JSON of a refused request.</summary>
    public async Task<JsonElement> ErrorAsync() => JsonDocument.Parse(await _response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>Reads the events to <c>[DONE]</c>: the text, the finish reason and the usage's completion tokens.</summary>
    public async Task<(string Text, string? FinishReason, int PromptTokens, int CompletionTokens)> ReadToEndAsync()
    {
        var text = new StringBuilder();
        string? finishReason = null;
        int prompt = -1, completion = -1;
        while (await _reader!.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
                continue;
            string data = line["data: ".Length..];
            if (data == "[DONE]")
                return (text.ToString(), finishReason, prompt, completion);
            JsonElement chunk = JsonDocument.Parse(data).RootElement;
            Assert.IsFalse(chunk.TryGetProperty("error", out _), data);
            foreach (JsonElement choice in chunk.GetProperty("choices").EnumerateArray())
            {
                text.Append(choice.GetProperty("text").GetString());
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                    finishReason = choice.GetProperty("finish_reason").GetString();
            }
            if (chunk.TryGetProperty("usage", out JsonElement usage) && usage.ValueKind == JsonValueKind.Object)
            {
                prompt = usage.GetProperty("prompt_tokens").GetInt32();
                completion = usage.GetProperty("completion_tokens").GetInt32();
            }
        }
        throw new AssertFailedException("the stream ended without [DONE]");
    }

    /// <summary>Goes away mid-stream: the connection closes under the server.</summary>
    public void Dispose()
    {
        _reader?.Dispose();
        _response.Dispose();
    }
}
