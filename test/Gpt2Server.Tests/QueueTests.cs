using System.Text.Json;
using Gpt2.Torch.Generation;

namespace Gpt2Server.Tests;

/// <summary>
/// The bounded queue, disconnecting clients and graceful shutdown. Each test holds the model itself (a generation on
/// the same service, paused mid-stream), so that the server's requests wait for the model for as long as the test says.
/// </summary>
[TestClass]
public sealed class QueueTests
{
    private static string Completion(int maxTokens) =>
        $$$"""{"model":"{{{ServerHost.ModelId}}}","prompt":"Waiting in line","max_tokens":{{{maxTokens}}}}""";

    // Starts a generation on the service and pauses it after its first piece: the service runs one generation at a
    // time, so the server's requests wait until the returned enumerator is disposed.
    private static async Task<IAsyncEnumerator<string>> HoldTheModelAsync(Gpt2TextGenerationService service)
    {
        IAsyncEnumerator<string> holder = service.GenerateStreamingAsync("Hold", new GenerationOptions { MaxNewTokens = 40, StopAtEndOfText = false })
            .GetAsyncEnumerator();
        Assert.IsTrue(await holder.MoveNextAsync());
        return holder;
    }

    [TestMethod]
    public async Task AFullQueueAnswers429WithRetryAfterAndTheAdmittedRequestIsServedLater()
    {
        using Gpt2TextGenerationService service = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        await using ServerHost server = await ServerHost.StartAsync(service, "--max-queue", "1");
        IAsyncEnumerator<string> holder = await HoldTheModelAsync(service);
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
        IAsyncEnumerator<string> holder = await HoldTheModelAsync(service);
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
        IAsyncEnumerator<string> holder = await HoldTheModelAsync(service);
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
