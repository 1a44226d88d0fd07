using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2Server;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>
/// <c>--bench serve</c>: the OpenAI-compatible server (samples/Gpt2Server, continuous batching on) over random weights of a
/// preset, on 127.0.0.1, called by 1, 4 and 16 concurrent streaming clients that each ask for the same number of new
/// tokens: total generated tokens per second and time to the first streamed text, one JSON line per engine
/// (<c>--engine torchsharp</c>, <c>onnxruntime</c>, <c>onnxruntime-int8</c>) and client count.
/// </summary>
internal static class ServingBenchmark
{
    public static async Task RunAsync(string preset, int newTokens, int[] clientCounts)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"gpt2-serve-{Guid.NewGuid():N}");
        try
        {
            random.manual_seed(0);
            using (var model = new Gpt2Model(Gpt2Config.FromPreset(preset), CPU))
                Gpt2Checkpoint.Save(model, folder);
            foreach (string engine in new[] { "torchsharp", "onnxruntime", "onnxruntime-int8" })
                await ServeAsync(folder, engine, preset, newTokens, clientCounts);
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task ServeAsync(string folder, string engine, string preset, int newTokens, int[] clientCounts)
    {
        var app = Gpt2ServerApp.Build(["--model", folder, "--engine", engine, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Warning"]);
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single().TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(10) };
            string modelId = JsonDocument.Parse(await http.GetStringAsync("v1/models")).RootElement.GetProperty("data")[0].GetProperty("id").GetString()!;
            await StreamAsync(http, modelId, "Warm-up", newTokens);
            foreach (int clients in clientCounts)
            {
                var clock = Stopwatch.StartNew();
                (double FirstTextSeconds, int Tokens)[] results = await Task.WhenAll(Enumerable.Range(0, clients)
                    .Select(i => StreamAsync(http, modelId, $"Request {i}: every effort moves you", newTokens)));
                double seconds = clock.Elapsed.TotalSeconds;
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    bench = "serve", preset, engine, clients, new_tokens = newTokens, total_tokens = results.Sum(r => r.Tokens),
                    tokens_per_s = Math.Round(results.Sum(r => r.Tokens) / seconds, 1),
                    first_text_ms_mean = Math.Round(1000 * results.Average(r => r.FirstTextSeconds)),
                    first_text_ms_max = Math.Round(1000 * results.Max(r => r.FirstTextSeconds)),
                    threads = get_num_threads(),
                }));
            }
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    // One streaming completion; returns when its first text arrived and how many tokens the usage chunk counts.
    private static async Task<(double FirstTextSeconds, int Tokens)> StreamAsync(HttpClient http, string modelId, string prompt, int newTokens)
    {
        string body = JsonSerializer.Serialize(new
        {
            model = modelId, prompt, max_tokens = newTokens, temperature = 0, stream = true, stream_options = new { include_usage = true },
        });
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double firstText = double.NaN;
        int tokens = 0;
        while (await reader.ReadLineAsync() is string line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
                continue;
            JsonElement chunk = JsonDocument.Parse(line["data: ".Length..]).RootElement;
            if (double.IsNaN(firstText) && chunk.TryGetProperty("choices", out JsonElement choices) && choices.GetArrayLength() > 0
                && choices[0].TryGetProperty("text", out JsonElement text) && text.GetString() is { Length: > 0 })
                firstText = clock.Elapsed.TotalSeconds;
            if (chunk.TryGetProperty("usage", out JsonElement usage) && usage.ValueKind == JsonValueKind.Object)
                tokens = usage.GetProperty("completion_tokens").GetInt32();
        }
        return (firstText, tokens);
    }
}
