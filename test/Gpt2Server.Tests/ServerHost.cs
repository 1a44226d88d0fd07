using System.Net.Http.Json;
using System.Text.Json;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Microsoft.AspNetCore.Builder;
using static TorchSharp.torch;

namespace Gpt2Server.Tests;

/// <summary>The server on real Kestrel, 127.0.0.1 and a free port chosen by the system, and a tiny model to serve.</summary>
internal sealed class ServerHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ServerHost(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    /// <summary>http://127.0.0.1:PORT/</summary>
    public Uri BaseAddress { get; }

    public HttpClient Http { get; }

    public WebApplication App => _app;

    /// <summary>
    /// A tiny random GPT-2 with GPT-2's vocabulary (context 64), saved as a checkpoint folder once per test run; the
    /// folder's name is the served model id.
    /// </summary>
    public static string TinyModelFolder { get; } = SaveTinyModel();

    public const string ModelId = "tiny-gpt2-server";

    public static async Task<ServerHost> StartAsync(Gpt2TextGenerationService? service = null, params string[] extraArgs)
    {
        WebApplication app = Gpt2ServerApp.Build(
            ["--model", TinyModelFolder, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Warning", .. extraArgs], service);
        await app.StartAsync();
        return new ServerHost(app, new Uri(app.Urls.Single().TrimEnd('/') + "/"));
    }

    public async Task<(int Status, JsonElement Json, HttpResponseMessage Response)> PostAsync(string path, string json, CancellationToken cancellationToken = default)
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        HttpResponseMessage response = await Http.PostAsync(path, content, cancellationToken);
        string text = await response.Content.ReadAsStringAsync(cancellationToken);
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    public async Task<int> AdmittedAsync() =>
        (await Http.GetFromJsonAsync<JsonElement>("health")).GetProperty("admitted").GetInt32();

    /// <summary>Polls /health until <paramref name="admitted"/> requests are admitted, or fails after 20 s.</summary>
    public async Task WaitForAdmittedAsync(int admitted)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await AdmittedAsync() != admitted)
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the server never had {admitted} admitted requests (now {await AdmittedAsync()})");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static string SaveTinyModel()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"gpt2-server-tests-{Guid.NewGuid():N}", ModelId);
        manual_seed(1234);
        using var model = new Gpt2Model(new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }, CPU);
        Gpt2Checkpoint.Save(model, folder);
        return folder;
    }
}
