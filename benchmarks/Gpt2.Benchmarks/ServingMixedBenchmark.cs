using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Gpt2.Torch;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2MLNet.AI;
using Gpt2Server;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>
/// <c>--bench serve-mixed</c>: 16 concurrent clients against the OpenAI-compatible server (samples/Gpt2Server,
/// continuous batching on, its default engine) over random weights of a preset, as an application that chats and
/// searches at once would call it: 12 stream chat answers (<c>/v1/chat/completions</c>, greedy, each to the same number
/// of new tokens) and 4 embed batches of 8 texts until the chats are done. One JSON line after a warm-up round:
/// generated tokens per second (all clients together), embedded texts per second, time to the first streamed text as
/// the clients saw it (mean, p95), and the server's own <c>vllm:time_to_first_token_seconds</c> mean from
/// <c>/metrics</c>.
/// </summary>
/// <remarks>
/// Embeddings go over HTTP (<c>POST /v1/embeddings</c>) when the server has that route, else through
/// <see cref="Gpt2EmbeddingGenerator"/> over the server's own host in-process (batched with its generations all the
/// same); <c>embeddings_via</c> says which. Structured output is measured when the server accepts
/// <c>response_format</c> <c>json_object</c>: then 2 of the chat clients ask for it (<c>structured_clients</c>).
/// </remarks>
internal static class ServingMixedBenchmark
{
    private const int ChatClients = 12, EmbeddingClients = 4, TextsPerEmbedding = 8, StructuredClients = 2;

    public static async Task RunAsync(string preset, int newTokens)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"gpt2-serve-mixed-{Guid.NewGuid():N}", preset);
        try
        {
            random.manual_seed(0);
            using (var model = new Gpt2Model(Gpt2Config.FromPreset(preset), CPU))
                Gpt2Checkpoint.Save(model, folder);
            using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(LanguageModelSource.Pretrained(folder));
            using var embeddings = new Gpt2EmbeddingGenerator(service.Host, modelId: preset);
            var app = Gpt2ServerApp.Build(["--model", folder, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Warning"], service);
            await app.StartAsync();
            try
            {
                using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single().TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(10) };
                var clients = new Clients(http, preset, embeddings);
                await clients.ProbeAsync();
                await clients.RoundAsync(Math.Min(newTokens, 8));
                (double fromBefore, double countBefore) = await FirstTokenMetricAsync(http);
                Round round = await clients.RoundAsync(newTokens);
                (double fromAfter, double countAfter) = await FirstTokenMetricAsync(http);
                double[] firsts = [.. round.FirstTexts.Order()];
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    bench = "serve-mixed", preset, engine = service.EngineName, chat_clients = ChatClients - (clients.Structured ? StructuredClients : 0),
                    structured_clients = clients.Structured ? StructuredClients : 0, embedding_clients = EmbeddingClients, embeddings_via = clients.EmbeddingsVia,
                    new_tokens = newTokens, generated_tokens = round.Tokens,
                    generated_tokens_per_s = Math.Round(round.Tokens / round.Seconds, 1),
                    embedded_texts_per_s = Math.Round(round.EmbeddedTexts / round.Seconds, 1),
                    first_text_ms_mean = Math.Round(1000 * firsts.Average()), first_text_ms_p95 = Math.Round(1000 * Percentile(firsts, 0.95)),
                    server_ttft_ms_mean = Math.Round(1000 * (fromAfter - fromBefore) / (countAfter - countBefore), 1),
                    peak_batch = service.PeakContinuousBatchSize, seconds = Math.Round(round.Seconds, 2), threads = get_num_threads(),
                }));
            }
            finally
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
        finally
        {
            if (Directory.Exists(Path.GetDirectoryName(folder)))
                Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
        }
    }

    // The nearest-rank percentile of sorted values.
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static async Task<(double Sum, double Count)> FirstTokenMetricAsync(HttpClient http)
    {
        string text = await http.GetStringAsync("metrics");
        double Sample(string name) => double.Parse(text.Split('\n').Single(line => line.StartsWith(name + "{", StringComparison.Ordinal)).Split(' ')[^1],
            System.Globalization.CultureInfo.InvariantCulture);
        return (Sample("vllm:time_to_first_token_seconds_sum"), Sample("vllm:time_to_first_token_seconds_count"));
    }

    private sealed record Round(double Seconds, int Tokens, double[] FirstTexts, int EmbeddedTexts);

    private sealed class Clients(HttpClient http, string modelId, Gpt2EmbeddingGenerator embeddings)
    {
        private bool _embeddingsOverHttp;

        public bool Structured { get; private set; }

        public string EmbeddingsVia => _embeddingsOverHttp ? "http" : "in-process";

        // Which of the optional routes and fields the server has.
        public async Task ProbeAsync()
        {
            using HttpResponseMessage embedding = await PostAsync("v1/embeddings", new { model = modelId, input = "probe" });
            _embeddingsOverHttp = embedding.StatusCode == HttpStatusCode.OK;
            using HttpResponseMessage structured = await PostAsync("v1/chat/completions", new
            {
                model = modelId, messages = new[] { new { role = "user", content = "probe" } }, max_tokens = 4, response_format = new { type = "json_object" },
            });
            Structured = structured.StatusCode == HttpStatusCode.OK;
        }

        public async Task<Round> RoundAsync(int newTokens)
        {
            var clock = Stopwatch.StartNew();
            using var chatsDone = new CancellationTokenSource();
            Task<(double First, int Tokens)>[] chats = [.. Enumerable.Range(0, ChatClients).Select(i =>
                ChatAsync($"Client {i} asks: what moves you, and why?", newTokens, structured: Structured && i < StructuredClients, clock))];
            Task<int>[] embedders = [.. Enumerable.Range(0, EmbeddingClients).Select(i => Task.Run(async () =>
            {
                int texts = 0;
                string[] batch = [.. Enumerable.Range(0, TextsPerEmbedding).Select(t => $"Document {i}.{t}: a short text about moving forward every day.")];
                while (!chatsDone.IsCancellationRequested)
                {
                    await EmbedAsync(batch);
                    texts += batch.Length;
                }
                return texts;
            }))];
            (double First, int Tokens)[] answers = await Task.WhenAll(chats);
            double seconds = clock.Elapsed.TotalSeconds;
            chatsDone.Cancel();
            int[] embedded = await Task.WhenAll(embedders);
            return new Round(seconds, answers.Sum(a => a.Tokens), [.. answers.Select(a => a.First)], embedded.Sum());
        }

        private async Task EmbedAsync(string[] texts)
        {
            if (!_embeddingsOverHttp)
            {
                await embeddings.GenerateAsync(texts);
                return;
            }
            using HttpResponseMessage response = await PostAsync("v1/embeddings", new { model = modelId, input = texts });
            response.EnsureSuccessStatusCode();
        }

        // One streamed chat answer: when its first text arrived and how many tokens the usage chunk counts.
        private async Task<(double First, int Tokens)> ChatAsync(string prompt, int newTokens, bool structured, Stopwatch clock)
        {
            object body = structured
                ? new { model = modelId, messages = new[] { new { role = "user", content = prompt } }, max_tokens = newTokens, temperature = 0, stream = true,
                    stream_options = new { include_usage = true }, response_format = new { type = "json_object" } }
                : new { model = modelId, messages = new[] { new { role = "user", content = prompt } }, max_tokens = newTokens, temperature = 0, stream = true,
                    stream_options = new { include_usage = true } };
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
            {
                Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
            };
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            double first = double.NaN;
            int tokens = 0;
            while (await reader.ReadLineAsync() is string line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
                    continue;
                JsonElement chunk = JsonDocument.Parse(line["data: ".Length..]).RootElement;
                if (double.IsNaN(first) && chunk.GetProperty("choices") is { } choices && choices.GetArrayLength() > 0
                    && choices[0].GetProperty("delta").TryGetProperty("content", out JsonElement content) && content.GetString() is { Length: > 0 })
                    first = clock.Elapsed.TotalSeconds;
                if (chunk.TryGetProperty("usage", out JsonElement usage) && usage.ValueKind == JsonValueKind.Object)
                    tokens = usage.GetProperty("completion_tokens").GetInt32();
            }
            return (first, tokens);
        }

        private Task<HttpResponseMessage> PostAsync(string path, object body) =>
            http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
    }
}
