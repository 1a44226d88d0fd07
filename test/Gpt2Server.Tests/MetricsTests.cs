using System.ClientModel;
using System.Text.Json;
using Gpt2.Torch.Generation;
using OpenAI;
using OpenAI.Chat;

namespace Gpt2Server.Tests;

/// <summary>
/// <c>GET /metrics</c> read as Prometheus reads it (<see cref="PrometheusScrape"/>): vLLM's names, types and labels, and
/// counters and histograms that account for exactly the requests served, as their responses reported them.
/// </summary>
[TestClass]
public sealed class MetricsTests
{
    private static readonly (string, string) Model = ("model_name", ServerHost.ModelId);

    [TestMethod]
    public async Task AnIdleServerExportsVllmsMetricFamiliesWithTheirTypesAndLabels()
    {
        await using ServerHost server = await ServerHost.StartAsync();
        PrometheusScrape scrape = await PrometheusScrape.ReadAsync(server.Http);
        var expected = new Dictionary<string, string>
        {
            ["vllm:num_requests_running"] = "gauge",
            ["vllm:num_requests_waiting"] = "gauge",
            ["vllm:kv_cache_usage_perc"] = "gauge",
            ["vllm:prompt_tokens_total"] = "counter",
            ["vllm:generation_tokens_total"] = "counter",
            ["vllm:request_success_total"] = "counter",
            ["vllm:time_to_first_token_seconds"] = "histogram",
            ["vllm:inter_token_latency_seconds"] = "histogram",
            ["vllm:e2e_request_latency_seconds"] = "histogram",
        };
        CollectionAssert.AreEquivalent(expected.ToList(), scrape.Types.ToList());
        foreach (PrometheusScrape.Sample sample in scrape.Samples)
        {
            Assert.AreEqual(ServerHost.ModelId, sample.Labels["model_name"], sample.Name);
            Assert.AreEqual("0", sample.Labels["engine"], sample.Name);
            if (!sample.Name.EndsWith("_sum", StringComparison.Ordinal))
                Assert.AreEqual(0, sample.Value, $"{sample.Name} of an idle server");
        }
        // vLLM's buckets, so that its dashboards' quantiles read the same.
        CollectionAssert.AreEqual(new[] { 0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0, double.PositiveInfinity },
            scrape.Histogram("vllm:time_to_first_token_seconds").Buckets.Select(b => b.UpperBound).ToArray());
        Assert.AreEqual(20, scrape.Histogram("vllm:inter_token_latency_seconds").Buckets.Count);
        Assert.AreEqual(22, scrape.Histogram("vllm:e2e_request_latency_seconds").Buckets.Count);
    }

    [TestMethod]
    public async Task TheCountersAndHistogramsAccountForEveryRequestAsItsResponseReportedIt()
    {
        await using ServerHost server = await ServerHost.StartAsync();
        var openAI = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1") });
        ChatClient chat = openAI.GetChatClient(ServerHost.ModelId);
        var usages = new List<(int Prompt, int Completion, string FinishReason)>();

        ChatCompletion whole = await chat.CompleteChatAsync([new UserChatMessage("Count me once")], new ChatCompletionOptions { MaxOutputTokenCount = 7 });
        usages.Add((whole.Usage.InputTokenCount, whole.Usage.OutputTokenCount, whole.FinishReason == ChatFinishReason.Length ? "length" : "stop"));

        ChatTokenUsage? streamedUsage = null;
        ChatFinishReason? streamedFinish = null;
        await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync([new UserChatMessage("Count me streamed")],
            new ChatCompletionOptions { MaxOutputTokenCount = 9 }))
        {
            streamedUsage ??= update.Usage;
            streamedFinish ??= update.FinishReason;
        }
        usages.Add((streamedUsage!.InputTokenCount, streamedUsage.OutputTokenCount, streamedFinish == ChatFinishReason.Length ? "length" : "stop"));

        (int status, JsonElement completion, _) = await server.PostAsync("v1/completions",
            $$"""{"model":"{{ServerHost.ModelId}}","prompt":"A completion, whole","max_tokens":5}""");
        Assert.AreEqual(200, status);
        usages.Add((completion.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), completion.GetProperty("usage").GetProperty("completion_tokens").GetInt32(),
            completion.GetProperty("choices")[0].GetProperty("finish_reason").GetString()!));

        using (StreamingCompletion stream = await StreamingCompletion.StartAsync(server.Http, "A completion, streamed", 4))
        {
            (_, string? finishReason, int prompt, int generated) = await stream.ReadToEndAsync();
            usages.Add((prompt, generated, finishReason!));
        }

        (status, JsonElement response, _) = await server.PostAsync("v1/responses",
            $$"""{"model":"{{ServerHost.ModelId}}","input":"A response","max_output_tokens":6}""");
        Assert.AreEqual(200, status, response.ToString());
        usages.Add((response.GetProperty("usage").GetProperty("input_tokens").GetInt32(), response.GetProperty("usage").GetProperty("output_tokens").GetInt32(),
            response.GetProperty("status").GetString() == "incomplete" ? "length" : "stop"));

        // Embeddings read prompt tokens and generate none, as vLLM counts its pooling requests.
        (status, JsonElement embedded, _) = await server.PostAsync("v1/embeddings",
            $$"""{"model":"{{ServerHost.ModelId}}","input":["embed these words","and these"]}""");
        Assert.AreEqual(200, status, embedded.ToString());
        int embeddedTokens = embedded.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.IsTrue(embeddedTokens > 0);

        PrometheusScrape scrape = await PrometheusScrape.ReadAsync(server.Http);
        Assert.AreEqual(usages.Sum(u => u.Prompt) + embeddedTokens, scrape.Value("vllm:prompt_tokens_total", Model));
        Assert.AreEqual(usages.Sum(u => u.Completion), scrape.Value("vllm:generation_tokens_total", Model));
        Assert.AreEqual(usages.Count(u => u.FinishReason == "length"), scrape.Value("vllm:request_success_total", Model, ("finished_reason", "length")));
        Assert.AreEqual(usages.Count(u => u.FinishReason == "stop"), scrape.Value("vllm:request_success_total", Model, ("finished_reason", "stop")));

        var firstToken = scrape.Histogram("vllm:time_to_first_token_seconds");
        var interToken = scrape.Histogram("vllm:inter_token_latency_seconds");
        var latency = scrape.Histogram("vllm:e2e_request_latency_seconds");
        Assert.AreEqual(usages.Count, firstToken.Count, "one time to first token per request");
        Assert.AreEqual(usages.Count, latency.Count, "one latency per request");
        Assert.AreEqual(usages.Sum(u => u.Completion - 1), interToken.Count, "one gap between each two tokens of a request");
        Assert.IsTrue(firstToken.Sum > 0 && latency.Sum > firstToken.Sum, "time passes between submission, the first token and the last");
        Assert.AreEqual(latency.Sum - firstToken.Sum, interToken.Sum, 1e-9, "the gaps of a request add up to the time from its first token to its last");

        Assert.AreEqual(0, scrape.Value("vllm:num_requests_running"));
        Assert.AreEqual(0, scrape.Value("vllm:num_requests_waiting"));
    }

    [TestMethod]
    public async Task TheHostStateCountsWaitingThenRunningGenerationsAndTheKeysAndValuesTheyHold()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        int[] first = service.Tokenizer.EncodeWithBeginningOfText("one two three four"), second = service.Tokenizer.EncodeWithBeginningOfText("five six");
        const int maxTokens = 10;
        var options = new GenerationOptions { MaxNewTokens = maxTokens };
        Task<TextGenerationResult>[] generations;
        await using (ModelPacer pacer = await ModelPacer.HoldAsync(service.Host))
        {
            generations = [service.GenerateAsync(first, options), service.GenerateAsync(second, options)];
            Assert.AreEqual(new LanguageModelHostState(0, 2, 0, 0), service.Host.State, "submitted, waiting for the model");
            await pacer.StepUntilAsync(async () =>
            {
                if (generations.FirstOrDefault(g => g.IsCompleted) is { } ended)
                    Assert.Fail($"a generation ended early: {(ended.IsFaulted ? ended.Exception : ended.Result)}; {service.Host.State}");
                await Task.Yield();
                return service.Host.State.RunningGenerations == 2;
            }, "both generations run");
            LanguageModelHostState state = service.Host.State;
            Assert.AreEqual(0, state.WaitingGenerations);
            Assert.IsTrue(state.CachedTokens >= first.Length + second.Length && state.CachedTokens < first.Length + second.Length + 2 * maxTokens,
                $"the prompts and the tokens taken so far: {state}");
            Assert.IsTrue(state.ReservedTokenPositions >= 2 * first.Length && state.ReservedTokenPositions <= 2 * 64,
                $"two rows, each at least the longer prompt and at most the context: {state}");
        }
        await Task.WhenAll(generations);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (service.Host.State != new LanguageModelHostState(0, 0, 0, 0))
        {
            Assert.IsTrue(DateTime.UtcNow < deadline, $"the host still holds {service.Host.State}");
            await Task.Delay(10);
        }
    }
}
