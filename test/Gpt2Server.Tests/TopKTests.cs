using System.Text.Json;

namespace Gpt2Server.Tests;

/// <summary>
/// vLLM's <c>top_k</c> on both endpoints: sampling among the k most likely tokens. With k = 1 only the most likely token
/// can be drawn, so any temperature and seed must give the greedy answer; -1 and 0 mean no limit; anything else is refused.
/// </summary>
[TestClass]
public sealed class TopKTests
{
    private static ServerHost _server = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _) => _server = await ServerHost.StartAsync();

    [ClassCleanup]
    public static async Task StopServer() => await _server.DisposeAsync();

    [TestMethod]
    [DataRow("v1/chat/completions")]
    [DataRow("v1/completions")]
    public async Task TopKOfOneSamplesTheGreedyAnswerAndNoLimitSamplesOthers(string path)
    {
        string greedy = await AnswerAsync(path, "\"temperature\":0");
        var unlimited = new HashSet<string>();
        for (int seed = 1; seed <= 4; seed++)
        {
            Assert.AreEqual(greedy, await AnswerAsync(path, $"\"temperature\":1.5,\"seed\":{seed},\"top_k\":1"), $"top_k 1 with seed {seed}");
            unlimited.Add(await AnswerAsync(path, $"\"temperature\":1.5,\"seed\":{seed},\"top_k\":-1"));
        }
        Assert.IsTrue(unlimited.Any(answer => answer != greedy), "without a limit, hot sampling leaves the greedy answer (so top_k 1 was what kept it)");
    }

    [TestMethod]
    [DataRow("-2")]
    [DataRow("1.5")]
    [DataRow("\"5\"")]
    public async Task ATopKThatIsNotACountIsRefused(string value)
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/completions", Body("v1/completions", $"\"top_k\":{value}"));
        Assert.AreEqual(400, status, json.ToString());
        Assert.AreEqual("top_k", json.GetProperty("error").GetProperty("param").GetString());
    }

    private static async Task<string> AnswerAsync(string path, string fields)
    {
        (int status, JsonElement json, _) = await _server.PostAsync(path, Body(path, fields));
        Assert.AreEqual(200, status, json.ToString());
        JsonElement choice = json.GetProperty("choices")[0];
        return path.Contains("chat", StringComparison.Ordinal) ? choice.GetProperty("message").GetProperty("content").GetString()! : choice.GetProperty("text").GetString()!;
    }

    private static string Body(string path, string fields) => path.Contains("chat", StringComparison.Ordinal)
        ? $$"""{"model":"{{ServerHost.ModelId}}","messages":[{"role":"user","content":"Every effort moves you"}],"max_tokens":12,{{fields}}}"""
        : $$"""{"model":"{{ServerHost.ModelId}}","prompt":"Every effort moves you","max_tokens":12,{{fields}}}""";
}
