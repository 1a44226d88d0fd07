using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>
/// <c>--bench mixed</c>: 16 concurrent clients on one model's host, as an application that chats and searches at once
/// would run them: 12 stream chat answers through <see cref="Gpt2ChatClient"/> and 4 embed batches of 8 texts through
/// <see cref="Gpt2EmbeddingGenerator"/> over the same host until the chats are done. One JSON line per engine: chat
/// tokens per second (all clients together), time to the first streamed text (mean and worst), the most rows decoded
/// together, and embedded texts per second. Each engine serves one warm-up round first.
/// </summary>
internal sealed class MixedLoadBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    private const int ChatClients = 12, EmbeddingClients = 4, TextsPerEmbedding = 8;

    public void Run(int newTokens)
    {
        string[] engines = Device.type == TorchSharp.DeviceType.CPU ? ["torchsharp", "onnxruntime"] : ["torchsharp"];
        foreach (string engine in engines)
        {
            random.manual_seed(0);
            using var service = Gpt2TextGenerationService.Load(RandomSource(), Device, DecodingEngine.Parse(engine));
            using var chat = new Gpt2ChatClient(service, modelId: Preset);
            using var embeddings = new Gpt2EmbeddingGenerator(service.Host, modelId: Preset);
            RoundAsync(chat, embeddings, Math.Min(newTokens, 8)).GetAwaiter().GetResult();
            var result = RoundAsync(chat, embeddings, newTokens).GetAwaiter().GetResult();
            Report("mixed", new
            {
                engine = service.EngineName, chat_clients = ChatClients, embedding_clients = EmbeddingClients, new_tokens = newTokens,
                chat_tokens_per_s = Math.Round(result.ChatTokens / result.Seconds, 1),
                first_text_ms_mean = Math.Round(1000 * result.FirstTexts.Average()), first_text_ms_max = Math.Round(1000 * result.FirstTexts.Max()),
                peak_batch = service.PeakContinuousBatchSize,
                embedded_texts_per_s = Math.Round(result.EmbeddedTexts / result.Seconds, 1),
            });
        }
    }

    private static async Task<(double Seconds, int ChatTokens, double[] FirstTexts, int EmbeddedTexts)> RoundAsync(Gpt2ChatClient chat,
        Gpt2EmbeddingGenerator embeddings, int newTokens)
    {
        var clock = Stopwatch.StartNew();
        using var chatsDone = new CancellationTokenSource();
        Task<(double First, int Tokens)>[] chats = [.. Enumerable.Range(0, ChatClients).Select(i => Task.Run(async () =>
        {
            double first = 0;
            int tokens = 0;
            var options = new ChatOptions { MaxOutputTokens = newTokens, Temperature = 0 };
            await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync($"Client {i} asks: what moves you, and why?", options))
            {
                if (first == 0 && !string.IsNullOrEmpty(update.Text))
                    first = clock.Elapsed.TotalSeconds;
                if (update.Contents.OfType<UsageContent>().FirstOrDefault() is { } usage)
                    tokens = (int)(usage.Details.OutputTokenCount ?? 0);
            }
            return (first, tokens);
        }))];
        Task<int>[] embedders = [.. Enumerable.Range(0, EmbeddingClients).Select(i => Task.Run(async () =>
        {
            int texts = 0;
            string[] batch = [.. Enumerable.Range(0, TextsPerEmbedding).Select(t => $"Document {i}.{t}: a short text about moving forward every day.")];
            while (!chatsDone.IsCancellationRequested)
            {
                await embeddings.GenerateAsync(batch);
                texts += batch.Length;
            }
            return texts;
        }))];
        (double First, int Tokens)[] answers = await Task.WhenAll(chats);
        double seconds = clock.Elapsed.TotalSeconds;
        chatsDone.Cancel();
        int[] embedded = await Task.WhenAll(embedders);
        return (seconds, answers.Sum(a => a.Tokens), [.. answers.Select(a => a.First)], embedded.Sum());
    }
}
