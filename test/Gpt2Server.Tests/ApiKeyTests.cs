using System.ClientModel;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using OpenAI;
using OpenAI.Chat;

namespace Gpt2Server.Tests;

/// <summary>
/// <c>--api-key</c>: the <c>/v1</c> routes answer only <c>Authorization: Bearer KEY</c>, with OpenAI's 401 error JSON
/// otherwise; <c>/health</c> and <c>/metrics</c> stay open.
/// </summary>
[TestClass]
public sealed class ApiKeyTests
{
    private const string Key = "sk-test-6f1c0e2d";

    private static ServerHost _server = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _) => _server = await ServerHost.StartAsync(null, "--api-key", Key);

    [ClassCleanup]
    public static async Task StopServer() => await _server.DisposeAsync();

    private static async Task<(int Status, JsonElement Json, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string? authorization)
    {
        using var request = new HttpRequestMessage(method, path);
        if (method == HttpMethod.Post)
            request.Content = new StringContent($$"""{"model":"{{ServerHost.ModelId}}","prompt":"Let me in","max_tokens":3}""", System.Text.Encoding.UTF8, "application/json");
        if (authorization is not null)
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        HttpResponseMessage response = await _server.Http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    private static void AssertInvalidApiKey((int Status, JsonElement Json, HttpResponseMessage Response) answer, string? presented)
    {
        Assert.AreEqual(401, answer.Status);
        Assert.AreEqual("Bearer", answer.Response.Headers.WwwAuthenticate.Single().Scheme);
        JsonElement error = answer.Json.GetProperty("error");
        Assert.AreEqual("invalid_request_error", error.GetProperty("type").GetString());
        Assert.AreEqual("invalid_api_key", error.GetProperty("code").GetString());
        Assert.AreEqual(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        string message = error.GetProperty("message").GetString()!;
        Assert.IsFalse(message.Contains(Key, StringComparison.Ordinal), "the server's key is never written");
        if (presented is { Length: > 0 })
            Assert.IsFalse(message.Contains(presented, StringComparison.Ordinal), "nor the key presented");
    }

    [TestMethod]
    public async Task EveryV1RouteRefusesAMissingOrWrongKeyWithOpenAIs401()
    {
        foreach ((HttpMethod method, string path) in new[] { (HttpMethod.Get, "v1/models"), (HttpMethod.Post, "v1/completions"), (HttpMethod.Post, "v1/chat/completions"), (HttpMethod.Post, "v1/no-such-route") })
        {
            AssertInvalidApiKey(await SendAsync(method, path, null), null);
            AssertInvalidApiKey(await SendAsync(method, path, "Bearer sk-wrong"), "sk-wrong");
            AssertInvalidApiKey(await SendAsync(method, path, "Bearer " + Key + "x"), Key + "x");
            AssertInvalidApiKey(await SendAsync(method, path, "Bearer " + Key[..^1]), null);
            AssertInvalidApiKey(await SendAsync(method, path, "Basic " + Key), null);
            AssertInvalidApiKey(await SendAsync(method, path, Key), null);
        }
    }

    [TestMethod]
    public async Task TheRightKeyIsLetInAndHealthAndMetricsStayOpen()
    {
        (int status, JsonElement json, _) = await SendAsync(HttpMethod.Post, "v1/completions", "Bearer " + Key);
        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual(200, (await SendAsync(HttpMethod.Post, "v1/completions", "bearer " + Key)).Status, "the scheme is case-insensitive");
        Assert.AreEqual(200, (await SendAsync(HttpMethod.Get, "health", null)).Status);
        using HttpResponseMessage metrics = await _server.Http.GetAsync("metrics");
        Assert.AreEqual(200, (int)metrics.StatusCode);
    }

    [TestMethod]
    public async Task TheOpenAISdkWithTheKeyIsServedAndWithAnotherGetsAnAuthenticationError()
    {
        ChatClient Client(string key) => new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") })
            .GetChatClient(ServerHost.ModelId);
        ChatCompletion completion = await Client(Key).CompleteChatAsync([new UserChatMessage("hello")], new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        Assert.AreEqual(3, completion.Usage.OutputTokenCount);
        ClientResultException refused = await Assert.ThrowsExactlyAsync<ClientResultException>(() => Client("sk-other").CompleteChatAsync([new UserChatMessage("hello")]));
        Assert.AreEqual(401, refused.Status);
    }

    [TestMethod]
    public void TheKeyComesFromTheOptionOrTheEnvironmentVariableAndMayNotBeEmpty()
    {
        static Gpt2ServerOptions Read(params (string, string)[] settings) => Gpt2ServerOptions.From(new ConfigurationBuilder()
            .AddInMemoryCollection([new("model", "124M"), .. settings.Select(s => new KeyValuePair<string, string?>(s.Item1, s.Item2))]).Build());
        Assert.IsNull(Read().ApiKey);
        Assert.AreEqual("k1", Read(("api-key", "k1")).ApiKey);
        Assert.AreEqual("k2", Read((Gpt2ServerOptions.ApiKeyVariable, "k2")).ApiKey);
        Assert.AreEqual("k1", Read(("api-key", "k1"), (Gpt2ServerOptions.ApiKeyVariable, "k2")).ApiKey, "the option wins");
        Assert.ThrowsExactly<Gpt2ServerOptionsException>(() => Read(("api-key", " ")));
        StringAssert.Contains(Gpt2ServerOptions.Usage, "--api-key");
    }
}
