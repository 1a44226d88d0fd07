using System.ClientModel;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.AspNetCore.Builder;
using OpenAI;

namespace Gpt2Server.Tests;

/// <summary>
/// The server over a model folder a test class writes (a tiny family model with its tokenizer and chat template), the
/// official OpenAI SDK's client of it, and the in-process <see cref="Gpt2ChatClient"/> over the same folder (TorchSharp)
/// that its answers are compared with. Disposing stops the server, frees the reference client and deletes the folder.
/// </summary>
internal sealed class FolderModelServer : IAsyncDisposable
{
    private readonly string _root;
    private readonly WebApplication _app;

    private FolderModelServer(string root, string folder, WebApplication app, Gpt2ChatClient reference)
    {
        _root = root;
        _app = app;
        Folder = folder;
        BaseAddress = new Uri(app.Urls.Single().TrimEnd('/') + "/");
        OpenAI = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(BaseAddress, "v1") });
        Reference = reference;
    }

    /// <summary>The served model folder (its name is the model id).</summary>
    public string Folder { get; }

    /// <summary>http://127.0.0.1:PORT/</summary>
    public Uri BaseAddress { get; }

    public OpenAIClient OpenAI { get; }

    public Gpt2ChatClient Reference { get; }

    /// <param name="modelId">The folder's name, which the server serves as the model id.</param>
    /// <param name="writeModel">Writes the model into the folder it is given and returns that folder.</param>
    /// <param name="extraArgs">More command-line options for the server (<c>--engine torchsharp</c>, ...).</param>
    public static async Task<FolderModelServer> StartAsync(string modelId, Func<string, string> writeModel, params string[] extraArgs)
    {
        string root = Path.Combine(Path.GetTempPath(), $"gpt2-{modelId}-" + Guid.NewGuid().ToString("N"));
        string folder = writeModel(Path.Combine(root, modelId));
        WebApplication app = Gpt2ServerApp.Build(
            ["--model", folder, .. extraArgs, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Warning"], null);
        await app.StartAsync();
        return new FolderModelServer(root, folder, app, Gpt2ChatClient.Create(folder, engine: DecodingEngine.TorchSharp));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Reference.Dispose();
        Directory.Delete(_root, recursive: true);
    }
}
