using System.Text.Json;

namespace Gpt2Server.Tests;

/// <summary>
/// Every request field that would change generation and is not supported is refused by name with a 400, never silently
/// ignored; the same field with its harmless value (the one that changes nothing) is accepted.
/// </summary>
[TestClass]
public sealed class UnsupportedFieldTests
{
    private static ServerHost _server = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _) => _server = await ServerHost.StartAsync();

    [ClassCleanup]
    public static async Task StopServer() => await _server.DisposeAsync();

    private static string Chat(string field) =>
        $$"""{"model":"{{ServerHost.ModelId}}","messages":[{"role":"user","content":"hi"}],"max_tokens":2,{{field}}}""";

    private static string Completion(string field) =>
        $$"""{"model":"{{ServerHost.ModelId}}","prompt":"hi","max_tokens":2,{{field}}}""";

    [TestMethod]
    [DataRow("tools", """[{"type":"function","function":{"name":"f"}}]""")]
    [DataRow("n", "2")]
    [DataRow("best_of", "3")]
    [DataRow("echo", "true")]
    public async Task TheChatEndpointRefusesTheFieldByName(string field, string value) =>
        await AssertRefusedAsync("v1/chat/completions", Chat($"\"{field}\":{value}"), field);

    [TestMethod]
    [DataRow("response_format", """{"type":"json_schema"}""")]
    [DataRow("n", "2")]
    [DataRow("best_of", "2")]
    [DataRow("echo", "true")]
    [DataRow("suffix", "\" the end\"")]
    [DataRow("top_logprobs", "2")]
    public async Task TheCompletionsEndpointRefusesTheFieldByName(string field, string value) =>
        await AssertRefusedAsync("v1/completions", Completion($"\"{field}\":{value}"), field);

    [TestMethod]
    [DataRow("\"top_k\":-1,\"min_p\":0,\"repetition_penalty\":1,\"frequency_penalty\":0,\"presence_penalty\":0", DisplayName = "sampling off values")]
    [DataRow("\"top_k\":0,\"logit_bias\":{},\"logprobs\":false,\"n\":1,\"best_of\":1,\"echo\":false", DisplayName = "one plain choice")]
    [DataRow("\"response_format\":{\"type\":\"text\"},\"tools\":[],\"tool_choice\":\"none\"", DisplayName = "text, no tools")]
    public async Task HarmlessValuesAreAccepted(string fields)
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/chat/completions", Chat(fields));
        Assert.AreEqual(200, status, json.ToString());
        (status, json, _) = await _server.PostAsync("v1/completions", Completion(fields.Replace(",\"tool_choice\":\"none\"", "", StringComparison.Ordinal)));
        Assert.AreEqual(200, status, json.ToString());
    }

    private static async Task AssertRefusedAsync(string path, string body, string field)
    {
        (int status, JsonElement json, _) = await _server.PostAsync(path, body);
        Assert.AreEqual(400, status, json.ToString());
        JsonElement error = json.GetProperty("error");
        Assert.AreEqual("invalid_request_error", error.GetProperty("type").GetString());
        Assert.AreEqual(field, error.GetProperty("param").GetString());
        Assert.AreEqual("unsupported_parameter", error.GetProperty("code").GetString());
        StringAssert.Contains(error.GetProperty("message").GetString(), $"'{field}'", "the message names the field");
    }
}
