using System.Text.Json;
using Gpt2.Torch.Generation;

namespace Gpt2Server.Tests;

/// <summary>
/// The bounded queue, disconnecting clients and graceful shutdown. Each test holds the model itself (its lock, which
/// every decode step takes), so that the server's requests wait for the model for as long as the test says.
/// </summary>
[TestClass]
public sealed class QueueTests
{
    private static string Completion(int maxTokens) =>
        $$$"""{"model":"{{{ServerHost.ModelId}}}","prompt":"Waiting in line","max_tokens":{{{maxTokens}}}}""";

    // Holds the model's lock (which every decode step takes) on a thread of its own until the returned holder is
    // disposed: the server's requests join the host's batch but wait for the model for as long as the test says.
    private static Task<IAsyncDisposable> HoldTheModelAsync(Gpt2TextGenerationService service)
    {
        var holder = new ModelHolder(service.Model);
        return Task.FromResult<IAsyncDisposable>(holder);
    }

    private sealed class ModelHolder : IAsyncDisposable
    {
        private readonly ManualResetEventSlim _release = new();
        private readonly Thread _thread;

        public ModelHolder(Gpt2.Torch.Model.CausalLanguageModel model)
        {
            using var held = new ManualResetEventSlim();
            _thread = new Thread(() =>
            {
                using (ModelGate.For(model).EnterScope())
                {
                    held.Set();
                    _release.Wait();
                }
            });
            _thread.Start();
            held.Wait();
        }

        public ValueTask DisposeAsync()
        {
            _release.Set();
            _thread.Join();
            _release.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    [TestMethod]
    public async Task AFullQueueAnswers429WithRetryAfterAndTheAdmittedRequestIsServedLater()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        await using ServerHost server = await ServerHost.StartAsync(service, "--max-queue", "1");
        IAsyncDisposable holder = await HoldTheModelAsync(service);
        Task<(int, JsonElement, HttpResponseMessage)> first;
        try
        {
            first = server.PostAsync("v1/completions", Completion(5));
            await server.WaitForAdmittedAsync(1);

            (int status, JsonElement json, HttpResponseMessage response) = await server.PostAsync("v1/completions", Completion(5));
            Assert.AreEqual(429, status);
            Assert.AreEqual("1", response.Headers.GetValues("Retry-After").Single());
            Assert.AreEqual("rate_limit_error", json.GetProperty("error").GetProperty("type").GetString());
            Assert.AreEqual("rate_limit_exceeded", json.GetProperty("error").GetProperty("code").GetString());
            Assert.IsFalse(first.IsCompleted, "the admitted request waits for the model");
        }
        finally
        {
            await holder.DisposeAsync();
        }
        (int firstStatus, JsonElement firstJson, _) = await first;
        Assert.AreEqual(200, firstStatus, firstJson.ToString());
        Assert.AreEqual(service.Generate("Waiting in line", new GenerationOptions { MaxNewTokens = 5 }).Text,
            firstJson.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.AreEqual(0, await server.AdmittedAsync());
    }

    [TestMethod]
    public async Task AClientThatDisconnectsLeavesTheQueue()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        await using ServerHost server = await ServerHost.StartAsync(service, "--max-queue", "4");
        IAsyncDisposable holder = await HoldTheModelAsync(service);
        try
        {
            using var disconnect = new CancellationTokenSource();
            Task abandoned = server.PostAsync("v1/chat/completions",
                $$"""{"model":"{{ServerHost.ModelId}}","messages":[{"role":"user","content":"bye"}],"max_tokens":5,"stream":true}""", disconnect.Token);
            await server.WaitForAdmittedAsync(1);
            disconnect.Cancel();
            await Assert.ThrowsAsync<TaskCanceledException>(() => abandoned);
            await server.WaitForAdmittedAsync(0);
        }
        finally
        {
            await holder.DisposeAsync();
        }
        (int status, _, _) = await server.PostAsync("v1/completions", Completion(3));
        Assert.AreEqual(200, status, "the server goes on serving");
    }

    [TestMethod]
    public async Task StoppingTheServerLetsAnAdmittedRequestFinishWithAFinishReason()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        ServerHost server = await ServerHost.StartAsync(service);
        IAsyncDisposable holder = await HoldTheModelAsync(service);
        Task<(int Status, JsonElement Json, HttpResponseMessage)> running;
        Task stopping;
        try
        {
            running = server.PostAsync("v1/completions", Completion(6));
            await server.WaitForAdmittedAsync(1);
            stopping = server.App.StopAsync();
            await Task.Delay(300);
            Assert.IsFalse(stopping.IsCompleted, "the server waits for its running request");
        }
        finally
        {
            await holder.DisposeAsync();
        }
        (int status, JsonElement json, _) = await running;
        await stopping;
        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual("length", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        await server.DisposeAsync();
    }
}
