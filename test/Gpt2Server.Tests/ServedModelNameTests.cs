using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Gpt2Server.Tests;

/// <summary>
/// <c>--served-model-name</c> (vLLM's flag) is the id clients send and <c>/v1/models</c> lists; a request for any other
/// model gets OpenAI's 404 <c>model_not_found</c> on every endpoint that takes a model.
/// </summary>
[TestClass]
public sealed class ServedModelNameTests
{
    private const string Name = "acme/tiny-chat";
    private static ServerHost _server = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _) => _server = await ServerHost.StartAsync(null, "--served-model-name", Name);

    [ClassCleanup]
    public static async Task StopServer() => await _server.DisposeAsync();

    [TestMethod]
    public async Task TheServedNameIsListedAndAnswered()
    {
        var openAI = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
        OpenAI.Models.OpenAIModelCollection models = await openAI.GetOpenAIModelClient().GetModelsAsync();
        CollectionAssert.AreEqual(new[] { Name }, models.Select(m => m.Id).ToArray());

        ChatCompletion completion = await openAI.GetChatClient(Name).CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        Assert.AreEqual(Name, completion.Model);
        Assert.AreEqual(Name, JsonDocument.Parse(await _server.Http.GetStringAsync("health")).RootElement.GetProperty("model").GetString());
    }

    [TestMethod]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"max_tokens":2}""")]
    [DataRow("v1/completions", """{"model":"M","prompt":"hi","max_tokens":2}""")]
    [DataRow("v1/responses", """{"model":"M","input":"hi","max_output_tokens":2}""")]
    [DataRow("v1/embeddings", """{"model":"M","input":"hi"}""")]
    public async Task AnotherModelIsNotFound(string path, string body)
    {
        // The folder's name, the id the server would use without --served-model-name, is another model now.
        foreach (string other in new[] { ServerHost.ModelId, "gpt-4o" })
        {
            (int status, JsonElement json, _) = await _server.PostAsync(path, body.Replace("\"M\"", $"\"{other}\"", StringComparison.Ordinal));
            EmbeddingsTests.AssertError(404, "model", "model_not_found", status, json);
            StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), other);
        }
        (int okStatus, JsonElement okJson, _) = await _server.PostAsync(path, body.Replace("\"M\"", $"\"{Name}\"", StringComparison.Ordinal));
        Assert.AreEqual(200, okStatus, okJson.ToString());
    }

    [TestMethod]
    public void TheOlderModelIdOptionMustAgreeWithIt()
    {
        var e = Assert.ThrowsExactly<Gpt2ServerOptionsException>(() =>
            Gpt2ServerApp.Build(["--model", "x", "--served-model-name", "a", "--model-id", "b"]));
        StringAssert.StartsWith(e.Message, "--served-model-name");
    }
}
