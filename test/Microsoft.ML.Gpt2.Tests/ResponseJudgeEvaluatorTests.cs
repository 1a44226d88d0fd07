using System.ClientModel;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.AI.Evaluation;
using Microsoft.ML.Gpt2.Evaluation;
using OllamaSharp;
using OpenAI;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// The book's judge as an IEvaluator over real client libraries: OllamaSharp against a server on 127.0.0.1 that answers
/// as Ollama's /api/chat does, and the OpenAI SDK (through Microsoft.Extensions.AI.OpenAI) against one that answers as an
/// OpenAI-compatible /v1/chat/completions does; the request bodies are the book's; the scores come from real judge phrasings.
/// </summary>
[TestClass]
public sealed class ResponseJudgeEvaluatorTests
{
    /// <summary>An HTTP server on 127.0.0.1 that records each request body and answers with the next queued reply.</summary>
    private sealed class FakeJudgeServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private readonly Func<string, JsonNode, string> _answer;

        /// <param name="answer">The response body for a request path and body, given the reply text to send.</param>
        public FakeJudgeServer(Func<string, JsonNode, string> answer)
        {
            _answer = answer;
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Endpoint = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(Endpoint.ToString());
            _listener.Start();
            _loop = Task.Run(ServeAsync);
        }

        public Uri Endpoint { get; }
        public Queue<string> Replies { get; } = new();
        public List<(string Path, JsonNode Body)> Requests { get; } = [];

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
                using var reader = new StreamReader(context.Request.InputStream);
                JsonNode body = JsonNode.Parse(await reader.ReadToEndAsync())!;
                string path = context.Request.Url!.AbsolutePath;
                Requests.Add((path, body));
                response.ContentType = "application/json";
                byte[] bytes = Encoding.UTF8.GetBytes(_answer(path, body).Replace("{REPLY}", JsonValue.Create(Replies.Dequeue()).ToJsonString()));
                await response.OutputStream.WriteAsync(bytes);
            }
        }
    }

    // Ollama's /api/chat: one JSON object, or one per line when the request streams, the last with done: true.
    private static string OllamaAnswer(string path, JsonNode request) => request["stream"]?.GetValue<bool>() == false
        ? """{"model":"llama3","created_at":"2026-11-28T00:00:00Z","message":{"role":"assistant","content":{REPLY}},"done":true,"done_reason":"stop"}"""
        : """{"model":"llama3","created_at":"2026-11-28T00:00:00Z","message":{"role":"assistant","content":{REPLY}},"done":false}""" + "\n"
            + """{"model":"llama3","created_at":"2026-11-28T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}""" + "\n";

    private static string OpenAIAnswer(string path, JsonNode request) =>
        """{"id":"chatcmpl-1","object":"chat.completion","created":1764288000,"model":"judge","choices":[{"index":0,"message":{"role":"assistant","content":{REPLY}},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":2,"total_tokens":52}}""";

    private static async Task<NumericMetric> JudgeAsync(IChatClient judge, ResponseJudgeEvaluator evaluator, string prompt, string reference, string response)
    {
        EvaluationResult result = await evaluator.EvaluateAsync([new ChatMessage(ChatRole.User, prompt)], new ChatResponse(new ChatMessage(ChatRole.Assistant, response)),
            new ChatConfiguration(judge), [new ReferenceResponseContext(reference)]);
        return result.Get<NumericMetric>(ResponseJudgeEvaluator.ScoreMetricName);
    }

    [TestMethod]
    public async Task ThroughOllamaSharpTheJudgeGetsTheBooksPromptAndOptionsAndItsRepliesBecomeScores()
    {
        using var server = new FakeJudgeServer(OllamaAnswer);
        using var ollama = new OllamaApiClient(server.Endpoint, "llama3");
        var evaluator = new ResponseJudgeEvaluator(contextSize: 2048);
        server.Replies.Enqueue("85");
        server.Replies.Enqueue("On a scale from 0 to 100, I would give it 72.");
        server.Replies.Enqueue("I cannot score this.");

        NumericMetric first = await JudgeAsync(ollama, evaluator, "### Instruction:\nName a color.", "Red.", "Blue.");
        NumericMetric second = await JudgeAsync(ollama, evaluator, "p", "r", "s");
        NumericMetric third = await JudgeAsync(ollama, evaluator, "p", "r", "s");

        Assert.AreEqual(85.0, first.Value);
        Assert.AreEqual(72.0, second.Value);
        Assert.IsNull(third.Value);
        Assert.IsTrue(third.Diagnostics!.Any(d => d.Severity == EvaluationDiagnosticSeverity.Error && d.Message.Contains("I cannot score this.")));
        (string path, JsonNode request) = server.Requests[0];
        Assert.AreEqual("/api/chat", path);
        Assert.AreEqual("llama3", request["model"]!.GetValue<string>());
        Assert.AreEqual("user", request["messages"]![0]!["role"]!.GetValue<string>());
        Assert.AreEqual(ResponseJudgeEvaluator.ScorePrompt("### Instruction:\nName a color.", "Red.", "Blue."), request["messages"]![0]!["content"]!.GetValue<string>());
        StringAssert.Contains(request["messages"]![0]!["content"]!.GetValue<string>(), "correct output `Red.`");
        Assert.AreEqual(0.0, request["options"]!["temperature"]!.GetValue<double>());
        Assert.AreEqual(123, request["options"]!["seed"]!.GetValue<int>());
        Assert.AreEqual(2048, request["options"]!["num_ctx"]!.GetValue<int>());
    }

    [TestMethod]
    public async Task ThroughTheOpenAISdkAnOpenAICompatibleJudgeScoresWithTheSamePromptAndNoOllamaOptions()
    {
        using var server = new FakeJudgeServer(OpenAIAnswer);
        IChatClient judge = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Endpoint, "v1") })
            .GetChatClient("judge-model").AsIChatClient();
        server.Replies.Enqueue("**Score:** 88");

        NumericMetric metric = await JudgeAsync(judge, new ResponseJudgeEvaluator(), "### Instruction:\nAdd 2 and 3.", "5", "5");

        Assert.AreEqual(88.0, metric.Value);
        (string path, JsonNode request) = server.Requests.Single();
        Assert.AreEqual("/v1/chat/completions", path);
        Assert.AreEqual("judge-model", request["model"]!.GetValue<string>());
        Assert.AreEqual(ResponseJudgeEvaluator.ScorePrompt("### Instruction:\nAdd 2 and 3.", "5", "5"), request["messages"]![0]!["content"]!.GetValue<string>());
        Assert.AreEqual(0.0, request["temperature"]!.GetValue<double>());
        Assert.AreEqual(123, request["seed"]!.GetValue<int>());
        Assert.IsNull(request["num_ctx"], "an OpenAI endpoint would refuse an option it does not know");
    }

    [TestMethod]
    public async Task AJudgeThatIsNotThereFailsWithAnHttpRequestExceptionThroughEitherClient()
    {
        var nowhere = new Uri($"http://127.0.0.1:{FreePort()}/");
        var evaluator = new ResponseJudgeEvaluator();
        using var ollama = new OllamaApiClient(nowhere, "llama3");
        await Assert.ThrowsAsync<HttpRequestException>(() => JudgeAsync(ollama, evaluator, "p", "r", "s"));
        IChatClient openAI = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(nowhere, "v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) })
            .GetChatClient("judge").AsIChatClient();
        var error = await Assert.ThrowsAsync<Exception>(() => JudgeAsync(openAI, evaluator, "p", "r", "s"));
        Assert.IsTrue(error is HttpRequestException || error.InnerException is HttpRequestException, error.ToString());
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
    public async Task WithoutAReferenceOrAJudgeTheEvaluatorSaysWhatIsMissing()
    {
        var evaluator = new ResponseJudgeEvaluator();
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, "5"));
        using var server = new FakeJudgeServer(OpenAIAnswer);
        IChatClient judge = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Endpoint, "v1") })
            .GetChatClient("judge").AsIChatClient();

        var error = await Assert.ThrowsExactlyAsync<ArgumentException>(async () =>
            await evaluator.EvaluateAsync([new ChatMessage(ChatRole.User, "p")], response, new ChatConfiguration(judge)));
        StringAssert.Contains(error.Message, nameof(ReferenceResponseContext));
        error = await Assert.ThrowsExactlyAsync<ArgumentException>(async () =>
            await evaluator.EvaluateAsync([new ChatMessage(ChatRole.User, "p")], response, null, [new ReferenceResponseContext("5")]));
        StringAssert.Contains(error.Message, "ChatConfiguration");
        Assert.AreEqual(0, server.Requests.Count);
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
        Assert.AreEqual(expected, ResponseJudgeEvaluator.ParseScore(reply), reply);

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
        Assert.IsNull(ResponseJudgeEvaluator.ParseScore(reply), reply);

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
