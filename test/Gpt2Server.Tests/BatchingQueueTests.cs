using System.Text.Json;
using Gpt2.Torch.Generation;

namespace Gpt2Server.Tests;

/// <summary>
/// Admission, disconnects and graceful shutdown with continuous batching on: the admitted requests decode together in
/// the host's running batch (seen through <c>/metrics</c>' running and waiting gauges and the host's state), while a
/// <see cref="ModelPacer"/> lets the loop take a step only when the test has looked. (<see cref="QueueTests"/> holds the
/// model throughout instead, so that no step runs while it asserts: one request at a time, batching never engaged.)
/// </summary>
[TestClass]
public sealed class BatchingQueueTests
{
    private const string Running = "vllm:num_requests_running";
    private const string Waiting = "vllm:num_requests_waiting";

    private static async Task<double> GaugeAsync(ServerHost server, string name) => (await PrometheusScrape.ReadAsync(server.Http)).Value(name);

    private static Func<Task<bool>> Gauge(ServerHost server, string name, double value) => async () => await GaugeAsync(server, name) == value;

    // Polls without letting the model step (fails after 20 s).
    private static async Task EventuallyAsync(Func<Task<bool>> done, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await done())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"never: {what}");
            await Task.Delay(10);
        }
    }

    private static string[] Alone(Gpt2TextGenerationService service, IEnumerable<string> prompts, int maxTokens) =>
        [.. prompts.Select(prompt => service.Generate(prompt, new GenerationOptions { MaxNewTokens = maxTokens }).Text)];

    [TestMethod]
    public async Task ABurstLargerThanTheQueueAdmitsExactlyMaxQueueRequestsThatDecodeTogetherAndRefusesTheRestWith429()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        string[] prompts = [.. Enumerable.Range(0, 10).Select(i => $"Burst request {i} of ten")];
        const int maxTokens = 20;
        string[] alone = Alone(service, prompts, maxTokens);
        await using ServerHost server = await ServerHost.StartAsync(service, "--max-queue", "4");
        StreamingCompletion[] streams;
        await using (ModelPacer pacer = await ModelPacer.HoldAsync(service.Host))
        {
            streams = await Task.WhenAll(prompts.Select(prompt => StreamingCompletion.StartAsync(server.Http, prompt, maxTokens)));
            Assert.AreEqual(4, streams.Count(s => s.Status == 200), "exactly --max-queue admitted");
            foreach (StreamingCompletion refused in streams.Where(s => s.Status != 200))
            {
                Assert.AreEqual(429, refused.Status);
                Assert.AreEqual("1", refused.Response.Headers.GetValues("Retry-After").Single());
                JsonElement error = (await refused.ErrorAsync()).GetProperty("error");
                Assert.AreEqual("rate_limit_error", error.GetProperty("type").GetString());
                Assert.AreEqual("rate_limit_exceeded", error.GetProperty("code").GetString());
                Assert.AreEqual(JsonValueKind.Null, error.GetProperty("param").ValueKind);
            }
            await EventuallyAsync(Gauge(server, Waiting, 4), "the four admitted requests wait for the model");
            Assert.AreEqual(0, await GaugeAsync(server, Running));
            Assert.AreEqual(4, await server.AdmittedAsync());

            await pacer.StepUntilAsync(Gauge(server, Running, 4), "the four admitted requests decode together in one batch");
            PrometheusScrape scrape = await PrometheusScrape.ReadAsync(server.Http);
            Assert.AreEqual(0, scrape.Value(Waiting));
            double usage = scrape.Value("vllm:kv_cache_usage_perc");
            Assert.IsTrue(usage is > 0 and <= 1, $"KV-cache usage {usage}");
        }
        StreamingCompletion[] admitted = [.. streams.Where(s => s.Status == 200)];
        for (int i = 0; i < streams.Length; i++)
        {
            if (streams[i].Status != 200)
                continue;
            (string text, string? finishReason, _, int completion) = await streams[i].ReadToEndAsync();
            Assert.AreEqual(alone[i], text, $"request {i} writes in the batch what it writes alone");
            Assert.AreEqual("length", finishReason);
            Assert.AreEqual(maxTokens, completion);
        }
        foreach (StreamingCompletion stream in streams)
            stream.Dispose();
        await EventuallyAsync(async () => await GaugeAsync(server, Running) == 0 && await GaugeAsync(server, "vllm:kv_cache_usage_perc") == 0,
            "the batch empties and frees its keys and values");
        Assert.AreEqual(0, await server.AdmittedAsync());
    }

    [TestMethod]
    public async Task AClientThatDisconnectsMidStreamFreesItsRowAndTheOthersWriteWhatTheyWriteAlone()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        string[] prompts = ["The one who leaves", "The second one stays", "And the third stays too"];
        const int maxTokens = 40;
        string[] alone = Alone(service, prompts, maxTokens);
        await using ServerHost server = await ServerHost.StartAsync(service, "--max-queue", "8");
        StreamingCompletion[] streams;
        await using (ModelPacer pacer = await ModelPacer.HoldAsync(service.Host))
        {
            streams = await Task.WhenAll(prompts.Select(prompt => StreamingCompletion.StartAsync(server.Http, prompt, maxTokens)));
            Assert.IsTrue(streams.All(s => s.Status == 200));
            await EventuallyAsync(Gauge(server, Waiting, 3), "three requests wait for the model");
            await pacer.StepUntilAsync(Gauge(server, Running, 3), "the three requests decode together");

            streams[0].Dispose();
            await EventuallyAsync(async () => await server.AdmittedAsync() == 2, "the client that left gives its place in the queue back");
            Assert.AreEqual(3, await GaugeAsync(server, Running), "its row is still in the batch until the next step");
            await pacer.StepUntilAsync(Gauge(server, Running, 2), "the row of the client that left leaves the batch at the next step");
        }
        for (int i = 1; i < streams.Length; i++)
        {
            (string text, string? finishReason, _, _) = await streams[i].ReadToEndAsync();
            Assert.AreEqual(alone[i], text, $"request {i}");
            Assert.AreEqual("length", finishReason);
            streams[i].Dispose();
        }
        await EventuallyAsync(Gauge(server, Running, 0), "the batch empties");
    }

    [TestMethod]
    public async Task StoppingTheServerLetsTheRunningBatchFinishWithinTheShutdownTimeout()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        string[] prompts = ["Stopping while", "three requests are", "decoding together"];
        const int maxTokens = 30;
        string[] alone = Alone(service, prompts, maxTokens);
        ServerHost server = await ServerHost.StartAsync(service, "--shutdown-timeout", "120");
        StreamingCompletion[] streams;
        Task stopping;
        await using (ModelPacer pacer = await ModelPacer.HoldAsync(service.Host))
        {
            streams = await Task.WhenAll(prompts.Select(prompt => StreamingCompletion.StartAsync(server.Http, prompt, maxTokens)));
            await EventuallyAsync(Gauge(server, Waiting, 3), "three requests wait for the model");
            await pacer.StepUntilAsync(Gauge(server, Running, 3), "the three requests decode together");
            stopping = server.App.StopAsync();
            long cached = service.Host.State.CachedTokens;
            await pacer.StepUntilAsync(() => Task.FromResult(service.Host.State.CachedTokens >= cached + 3 * 3),
                "the batch goes on decoding while the server stops");
            Assert.IsFalse(stopping.IsCompleted, "the server waits for its running requests");
        }
        for (int i = 0; i < streams.Length; i++)
        {
            (string text, string? finishReason, _, _) = await streams[i].ReadToEndAsync();
            Assert.AreEqual(alone[i], text, $"request {i}");
            Assert.AreEqual("length", finishReason);
            streams[i].Dispose();
        }
        await stopping;
        await server.DisposeAsync();
    }

    [TestMethod]
    public async Task RequestsStillRunningAtTheShutdownTimeoutAreCutAndLeaveTheBatch()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        ServerHost server = await ServerHost.StartAsync(service, "--shutdown-timeout", "1");
        StreamingCompletion[] streams;
        await using (ModelPacer pacer = await ModelPacer.HoldAsync(service.Host))
        {
            streams = await Task.WhenAll(new[] { "Cut short", "at the timeout" }.Select(prompt => StreamingCompletion.StartAsync(server.Http, prompt, 30)));
            await EventuallyAsync(Gauge(server, Waiting, 2), "two requests wait for the model");
            await pacer.StepUntilAsync(Gauge(server, Running, 2), "the two requests decode together");
            // The model stays held: the requests cannot finish, and the server stops at its timeout anyway.
            await server.App.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
            foreach (StreamingCompletion stream in streams)
                await Assert.ThrowsAsync<Exception>(async () => await stream.ReadToEndAsync(), "the stream is cut, without [DONE]");
        }
        await EventuallyAsync(() => Task.FromResult(service.Host.State is { RunningGenerations: 0, WaitingGenerations: 0 }),
            "the cut requests' rows leave the batch");
        foreach (StreamingCompletion stream in streams)
            stream.Dispose();
        await server.DisposeAsync();
    }
}
