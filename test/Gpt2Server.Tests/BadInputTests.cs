using System.Text.Json;

namespace Gpt2Server.Tests;

/// <summary>Every kind of bad request gets OpenAI's error JSON with the right status, and the server goes on serving.</summary>
[TestClass]
public sealed class BadInputTests
{
    private const string Model = ServerHost.ModelId;
    private static ServerHost _server = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _) => _server = await ServerHost.StartAsync(null, "--max-body-bytes", "65536");

    [ClassCleanup]
    public static async Task StopServer() => await _server.DisposeAsync();

    private static string LongText(int words) => string.Join(' ', Enumerable.Repeat("word", words));

    [TestMethod]
    [DataRow("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}]}""", "model", null, DisplayName = "no model")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", "max_tokens", "invalid_value", DisplayName = "max_tokens 0")]
    [DataRow("v1/completions", """{"model":"M","prompt":"hi","max_completion_tokens":-3}""", "max_completion_tokens", "invalid_value", DisplayName = "max_completion_tokens negative")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"temperature":1e999}""", "temperature", "invalid_type", DisplayName = "temperature infinite")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"temperature":"NaN"}""", "temperature", "invalid_type", DisplayName = "temperature NaN string")]
    [DataRow("v1/completions", """{"model":"M","prompt":"hi","temperature":2.5}""", "temperature", "invalid_value", DisplayName = "temperature too high")]
    [DataRow("v1/completions", """{"model":"M","prompt":"hi","temperature":-0.1}""", "temperature", "invalid_value", DisplayName = "temperature negative")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"top_p":0}""", "top_p", "invalid_value", DisplayName = "top_p 0")]
    [DataRow("v1/completions", """{"model":"M","prompt":"hi","top_p":1.5}""", "top_p", "invalid_value", DisplayName = "top_p above 1")]
    [DataRow("v1/completions", """{"model":"M","prompt":"hi","top_p":-1e999}""", "top_p", "invalid_type", DisplayName = "top_p infinite")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"n":2}""", "n", "unsupported_parameter", DisplayName = "n 2")]
    [DataRow("v1/completions", """{"model":"M","prompt":"hi","n":3}""", "n", "unsupported_parameter", DisplayName = "completions n 3")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}""", "tools", "unsupported_parameter", DisplayName = "tools")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"tool","content":"42","tool_call_id":"x"}]}""", "messages[0].role", null, DisplayName = "tool message")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"stop":[1,2]}""", "stop", "invalid_type", DisplayName = "stop not strings")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[]}""", "messages", null, DisplayName = "no messages")]
    [DataRow("v1/completions", """{"model":"M","prompt":[1,2,3]}""", "prompt", "invalid_type", DisplayName = "token prompt")]
    [DataRow("v1/completions", """{"model":"M","prompt":""}""", "prompt", null, DisplayName = "empty prompt")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"logprobs":"yes"}""", "logprobs", "invalid_type", DisplayName = "logprobs not a bool")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"max_tokens":64}""", "messages", "context_length_exceeded", DisplayName = "max_tokens fills the context")]
    [DataRow("v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"stream":false,"stream_options":{"include_usage":true}}""", "stream_options", "invalid_value", DisplayName = "stream_options without stream")]
    public async Task BadRequestsGetOpenAIErrorJsonWith400(string path, string body, string param, string? code)
    {
        (int status, JsonElement json, _) = await _server.PostAsync(path, body.Replace("\"M\"", $"\"{Model}\"", StringComparison.Ordinal));
        AssertError(400, "invalid_request_error", param, code, status, json);
    }

    [TestMethod]
    public async Task APromptLongerThanTheContextAllowsForTheRequestedTokensIsRefused()
    {
        // "word word ..." is one token a word: 50 prompt tokens + 20 asked for > 64.
        (int status, JsonElement json, _) = await _server.PostAsync("v1/completions",
            $$"""{"model":"{{Model}}","prompt":"{{LongText(50)}}","max_tokens":20}""");
        AssertError(400, "invalid_request_error", "prompt", "context_length_exceeded", status, json);
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), "64");

        // Without max_tokens, a prompt that fills the context leaves no room.
        (status, json, _) = await _server.PostAsync("v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"{{LongText(80)}}"}]}""");
        AssertError(400, "invalid_request_error", "messages", "context_length_exceeded", status, json);

        // One that fits is answered.
        (status, _, _) = await _server.PostAsync("v1/completions", $$"""{"model":"{{Model}}","prompt":"{{LongText(50)}}","max_tokens":14}""");
        Assert.AreEqual(200, status);
    }

    [TestMethod]
    [DataRow("{\"model\": ", DisplayName = "truncated")]
    [DataRow("not json at all", DisplayName = "not json")]
    [DataRow("[1,2,3]", DisplayName = "an array")]
    public async Task MalformedJsonGets400(string body)
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/chat/completions", body);
        AssertError(400, "invalid_request_error", null, "invalid_json", status, json);
    }

    [TestMethod]
    [DataRow("v1/chat/completions", DisplayName = "chat")]
    [DataRow("v1/completions", DisplayName = "completions")]
    public async Task ABodyThatIsNotUtf8Gets400NamingTheEncoding(string path)
    {
        // Latin-1 "café": the byte 0xE9 cannot start a UTF-8 sequence here.
        byte[] body = [.. System.Text.Encoding.UTF8.GetBytes($"{{\"model\":\"{Model}\",\"prompt\":\"caf"), 0xE9,
            .. System.Text.Encoding.UTF8.GetBytes("\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")];
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using HttpResponseMessage response = await _server.Http.PostAsync(path, content);
        JsonElement json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        AssertError(400, "invalid_request_error", null, "invalid_json", (int)response.StatusCode, json);
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), "UTF-8");
    }

    [TestMethod]
    public async Task AStringWithALoneSurrogateEscapeGets400NamingTheField()
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"half \ud800 a pair"}]}""");
        AssertError(400, "invalid_request_error", "messages[0].content", "invalid_json", status, json);
    }

    [TestMethod]
    [DataRow("GET", "v1/nothing-here", DisplayName = "GET unknown")]
    [DataRow("POST", "v1/engines/davinci/completions", DisplayName = "POST unknown")]
    [DataRow("POST", "", DisplayName = "POST root")]
    public async Task AnUnknownUrlGets404WithErrorJsonNamingMethodAndPath(string method, string path)
    {
        using HttpResponseMessage response = await _server.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        JsonElement json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        AssertError(404, "invalid_request_error", null, "unknown_url", (int)response.StatusCode, json);
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), $"{method} /{path}");
        Assert.AreEqual("application/json", response.Content.Headers.ContentType!.MediaType);
    }

    [TestMethod]
    [DataRow("GET", "v1/chat/completions", "POST", DisplayName = "GET chat")]
    [DataRow("DELETE", "v1/completions", "POST", DisplayName = "DELETE completions")]
    [DataRow("POST", "v1/models", "GET", DisplayName = "POST models")]
    public async Task AKnownUrlWithTheWrongMethodGets405WithErrorJsonNamingTheRightOne(string method, string path, string allowed)
    {
        using HttpResponseMessage response = await _server.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        JsonElement json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        AssertError(405, "invalid_request_error", null, "method_not_allowed", (int)response.StatusCode, json);
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), $"{method} /{path}");
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), allowed);
    }

    [TestMethod]
    public async Task ABodyOverTheSizeLimitGets413WithErrorJson()
    {
        string body = $$"""{"model":"{{Model}}","prompt":"{{new string('a', 100_000)}}"}""";
        (int status, JsonElement json, _) = await _server.PostAsync("v1/completions", body);
        AssertError(413, "invalid_request_error", null, "request_too_large", status, json);
    }

    [TestMethod]
    public async Task TheServerGoesOnServingAfterBadRequests()
    {
        await _server.PostAsync("v1/chat/completions", "{{{");
        await _server.PostAsync("v1/chat/completions", $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"hi"}],"n":5}""");
        (int status, JsonElement json, _) = await _server.PostAsync("v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":3}""");
        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual(0, await _server.AdmittedAsync(), "refused requests hold no place in the queue");
    }

    private static void AssertError(int expectedStatus, string type, string? param, string? code, int status, JsonElement json)
    {
        Assert.AreEqual(expectedStatus, status, json.ToString());
        JsonElement error = json.GetProperty("error");
        Assert.IsFalse(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.AreEqual(type, error.GetProperty("type").GetString());
        Assert.AreEqual(param, error.GetProperty("param").ValueKind == JsonValueKind.Null ? null : error.GetProperty("param").GetString());
        Assert.AreEqual(code, error.GetProperty("code").ValueKind == JsonValueKind.Null ? null : error.GetProperty("code").GetString());
    }
}
