using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Gpt2.Evaluation;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>The judge client against a real HTTP server on 127.0.0.1 that answers like Ollama, and the judge-free metrics.</summary>
[TestClass]
public sealed class OllamaJudgeTests
{
    /// <summary>Answers <c>GET /api/tags</c> and <c>POST /api/chat</c> like Ollama, with the replies queued by the test.</summary>
    private sealed class FakeOllamaServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        public FakeOllamaServer()
        {
            Endpoint = new Uri($"http://127.0.0.1:{FreePort()}/");
            _listener.Prefixes.Add(Endpoint.ToString());
            _listener.Start();
            _loop = Task.Run(ServeAsync);
        }

        public Uri Endpoint { get; }
        public Queue<string> Replies { get; } = new();
        public List<JsonNode> Requests { get; } = [];
        public bool Stream { get; set; }

        public void Dispose()
        {
            _listener.Stop();
            _loop.Wait(TimeSpan.FromSeconds(5));
            _listener.Close();
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                using HttpListenerResponse response = context.Response;
                string body = "";
                switch (context.Request.HttpMethod, context.Request.Url!.AbsolutePath)
                {
                    case ("GET", "/api/tags"):
                        body = """{"models":[{"name":"llama3:latest"}]}""";
                        break;
                    case ("POST", "/api/chat"):
                        using (var reader = new StreamReader(context.Request.InputStream))
                            Requests.Add(JsonNode.Parse(await reader.ReadToEndAsync())!);
                        string reply = Replies.Dequeue();
                        body = Stream
                            ? string.Join("\n", reply.Select(c => new JsonObject { ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = c.ToString() }, ["done"] = false }.ToJsonString()))
                                + "\n" + """{"message":{"role":"assistant","content":""},"done":true}""" + "\n"
                            : new JsonObject { ["model"] = "llama3", ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = reply }, ["done"] = true }.ToJsonString();
                        break;
                    default:
                        response.StatusCode = 404;
                        body = """{"error":"model 'llama3' not found"}""";
                        break;
                }
                byte[] bytes = Encoding.UTF8.GetBytes(body);
                await response.OutputStream.WriteAsync(bytes);
            }
        }
    }

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    [TestMethod]
    public async Task ScoresComeFromTheJudgesRepliesToTheBooksPrompt()
    {
        using var server = new FakeOllamaServer();
        using var judge = new OllamaJudge(server.Endpoint, "llama3");
        server.Replies.Enqueue("85");
        server.Replies.Enqueue("Score: 72.");
        server.Replies.Enqueue("I cannot score this.");

        Assert.IsTrue(await judge.IsReachableAsync());
        int? first = await judge.ScoreAsync("### Instruction:\nName a color.", "Red.", "Blue.");
        int? second = await judge.ScoreAsync("p", "r", "s");
        int? third = await judge.ScoreAsync("p", "r", "s");

        Assert.AreEqual(85, first);
        Assert.AreEqual(72, second);
        Assert.IsNull(third);
        JsonNode request = server.Requests[0];
        Assert.AreEqual("llama3", request["model"]!.GetValue<string>());
        Assert.IsFalse(request["stream"]!.GetValue<bool>());
        Assert.AreEqual(0, request["options"]!["temperature"]!.GetValue<int>());
        Assert.AreEqual("user", request["messages"]![0]!["role"]!.GetValue<string>());
        Assert.AreEqual(OllamaJudge.ScorePrompt("### Instruction:\nName a color.", "Red.", "Blue."), request["messages"]![0]!["content"]!.GetValue<string>());
        StringAssert.Contains(request["messages"]![0]!["content"]!.GetValue<string>(), "correct output `Red.`");
    }

    [TestMethod]
    public async Task StreamedRepliesAreJoined()
    {
        using var server = new FakeOllamaServer { Stream = true };
        using var judge = new OllamaJudge(server.Endpoint);
        server.Replies.Enqueue("The score is 93");

        Assert.AreEqual("The score is 93", await judge.ChatAsync("hello"));
    }

    [TestMethod]
    public async Task AServerThatIsNotThereIsUnreachableAndAnErrorNamesTheModel()
    {
        using (var nobody = new OllamaJudge(new Uri($"http://127.0.0.1:{FreePort()}/")))
            Assert.IsFalse(await nobody.IsReachableAsync());

        using var server = new FakeOllamaServer();
        using var judge = new OllamaJudge(new Uri(server.Endpoint, "elsewhere/"), "llama3");
        var error = await Assert.ThrowsExactlyAsync<HttpRequestException>(() => judge.ChatAsync("hello"));
        StringAssert.Contains(error.Message, "ollama pull llama3");
    }

    [TestMethod]
    [DataRow("On a scale from 0 to 100, I would give it 85.", 85)]
    [DataRow("On a scale of 0 to 100, this gets a 90.", 90)]
    [DataRow("I would rate this response 78 out of 100.", 78)]
    [DataRow("Score: 72/100", 72)]
    [DataRow("85/100", 85)]
    [DataRow("Score: 72", 72)]
    [DataRow("**Score:** 88", 88)]
    [DataRow("The model response scores 65 because it names the capital but adds 2 wrong facts.", 65)]
    [DataRow("I'd rate it a 40 (0-100): the answer is only partly right.", 40)]
    [DataRow("90", 90)]
    [DataRow("  100\n", 100)]
    [DataRow("0", 0)]
    [DataRow("1000 is too much; 50", 50)]
    public void ParseScoreReadsTheScoreAJudgeGives(string reply, int expected) =>
        Assert.AreEqual(expected, OllamaJudge.ParseScore(reply), reply);

    [TestMethod]
    [DataRow("8/10")]
    [DataRow("Score: 8/10")]
    [DataRow("-5")]
    [DataRow("Score: -5")]
    [DataRow("7.5")]
    [DataRow("150")]
    [DataRow("no number")]
    [DataRow("-")]
    [DataRow("On a scale from 0 to 100.")]
    [DataRow("It gets 3 of the 4 points right, so 75.")]
    public void ParseScoreGivesNullRatherThanAWrongScore(string reply) =>
        Assert.IsNull(OllamaJudge.ParseScore(reply), reply);

    [TestMethod]
    public void JudgeFreeMetricsFollowSquad()
    {
        Assert.AreEqual(1.0, ResponseMetrics.ExactMatch("The capital is Rome.", "the capital is rome"));
        Assert.AreEqual(0.0, ResponseMetrics.ExactMatch("Rome", "Paris"));
        // reference {capital, of, italy, is, rome}, response {rome, is, capital}: precision 3/3, recall 3/5.
        Assert.AreEqual(0.75, ResponseMetrics.TokenF1("The capital of Italy is Rome.", "Rome is the capital"), 1e-12);
        Assert.AreEqual(0.0, ResponseMetrics.TokenF1("Red.", "Blue."));
        Assert.AreEqual(2.0 / 3, ResponseMetrics.TokenF1("red red", "red"), 1e-12, "precision 1, recall 1/2");
    }
}
