using System.ClientModel;
using System.Text.Json;
using Gpt2.Torch.Tokenization;
using OpenAI;
using OpenAI.Chat;

namespace Gpt2Server.Tests;

/// <summary>
/// The sampling fields of OpenAI (<c>frequency_penalty</c>, <c>presence_penalty</c>, <c>logit_bias</c>, <c>seed</c>)
/// through the official OpenAI SDK, and vLLM's (<c>repetition_penalty</c>, <c>min_p</c>) as raw JSON, honoured on both
/// endpoints; and every bad value refused with OpenAI's error JSON naming the field. The tiny model's greedy answer to
/// the prompt is one token over and over, which is what the penalties must break.
/// </summary>
[TestClass]
public sealed class SamplingFieldTests
{
    private const string Prompt = "Every effort moves you";
    private static ServerHost _server = null!;
    private static OpenAIClient _openAI = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await ServerHost.StartAsync();
        _openAI = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
    }

    [ClassCleanup]
    public static async Task StopServer() => await _server.DisposeAsync();

    private static ChatClient Chat => _openAI.GetChatClient(ServerHost.ModelId);

    private static async Task<string> SdkAnswerAsync(Action<ChatCompletionOptions> set)
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 20, Temperature = 0 };
        set(options);
        ChatCompletion completion = await Chat.CompleteChatAsync([new UserChatMessage(Prompt)], options);
        return completion.Content.Single().Text;
    }

    private static async Task<string> AnswerAsync(string path, string fields)
    {
        (int status, JsonElement json, _) = await _server.PostAsync(path, Body(path, fields));
        Assert.AreEqual(200, status, json.ToString());
        JsonElement choice = json.GetProperty("choices")[0];
        return path.Contains("chat", StringComparison.Ordinal) ? choice.GetProperty("message").GetProperty("content").GetString()! : choice.GetProperty("text").GetString()!;
    }

    private static string Body(string path, string fields) => path.Contains("chat", StringComparison.Ordinal)
        ? $$"""{"model":"{{ServerHost.ModelId}}","messages":[{"role":"user","content":"{{Prompt}}"}],"max_tokens":20,{{fields}}}"""
        : $$"""{"model":"{{ServerHost.ModelId}}","prompt":"{{Prompt}}","max_tokens":20,{{fields}}}""";

    // How often the answer's most frequent token occurs.
    private static int MostRepeats(string text) => Gpt2Tokenizer.Default.Encode(text).GroupBy(t => t).Max(g => g.Count());

    [TestMethod]
    public async Task TheGreedyAnswerRepeatsOneToken() =>
        Assert.AreEqual(20, MostRepeats(await SdkAnswerAsync(_ => { })), "the premise of the penalty tests");

    [TestMethod]
    public async Task FrequencyAndPresencePenaltiesThroughTheSdkBreakTheRepetition()
    {
        string greedy = await SdkAnswerAsync(_ => { });
        string frequency = await SdkAnswerAsync(o => o.FrequencyPenalty = 2);
        string presence = await SdkAnswerAsync(o => o.PresencePenalty = 2);

        Assert.IsTrue(MostRepeats(frequency) < MostRepeats(greedy), $"frequency_penalty 2: {frequency}");
        Assert.IsTrue(MostRepeats(presence) < MostRepeats(greedy), $"presence_penalty 2: {presence}");
    }

    [TestMethod]
    [DataRow("v1/chat/completions")]
    [DataRow("v1/completions")]
    public async Task EveryPenaltyBreaksTheRepetitionOnBothEndpoints(string path)
    {
        int greedy = MostRepeats(await AnswerAsync(path, "\"temperature\":0"));
        foreach (string penalty in new[] { "\"repetition_penalty\":2", "\"frequency_penalty\":2", "\"presence_penalty\":2" })
        {
            string answer = await AnswerAsync(path, $"\"temperature\":0,{penalty}");
            Assert.IsTrue(MostRepeats(answer) < greedy, $"{penalty}: {answer}");
        }
        Assert.AreEqual(greedy, MostRepeats(await AnswerAsync(path, "\"temperature\":0,\"repetition_penalty\":1,\"frequency_penalty\":0")),
            "the values that change nothing leave the repetition");
    }

    [TestMethod]
    public async Task APlusHundredLogitBiasForcesTheTokenAndMinusHundredBansIt()
    {
        int comma = Gpt2Tokenizer.Default.Encode(",").Single();
        string forced = await SdkAnswerAsync(o => o.LogitBiases[comma] = 100);
        Assert.AreEqual(new string(',', 20), forced);

        string greedy = await SdkAnswerAsync(_ => { });
        int first = Gpt2Tokenizer.Default.Encode(greedy)[0];
        string banned = await SdkAnswerAsync(o => o.LogitBiases[first] = -100);
        Assert.IsFalse(Gpt2Tokenizer.Default.Encode(banned).Contains(first), $"token {first} was banned: {banned}");

        Assert.AreEqual(new string(',', 20), await AnswerAsync("v1/completions", $"\"logit_bias\":{{\"{comma}\":100}}"));
    }

    [TestMethod]
    public async Task TheSameSeedReproducesASampledAnswerAndOtherSeedsChangeIt()
    {
        Task<string> Sampled(long seed) => SdkAnswerAsync(o =>
        {
            o.Temperature = 1.5f;
#pragma warning disable OPENAI001 // Seed is marked experimental by the SDK.
            o.Seed = seed;
#pragma warning restore OPENAI001
        });
        string first = await Sampled(7);

        Assert.AreEqual(first, await Sampled(7));
        string[] others = [await Sampled(8), await Sampled(9), await Sampled(10)];
        Assert.IsTrue(others.Any(other => other != first), "another seed draws another answer");
        Assert.AreEqual(await AnswerAsync("v1/completions", "\"temperature\":1.5,\"seed\":7"), await AnswerAsync("v1/completions", "\"temperature\":1.5,\"seed\":7"));
    }

    [TestMethod]
    [DataRow("v1/chat/completions")]
    [DataRow("v1/completions")]
    public async Task AMinPOfOneSamplesTheGreedyAnswerAtAnySeed(string path)
    {
        // min_p 1 keeps only tokens as likely as the most likely one.
        string greedy = await AnswerAsync(path, "\"temperature\":0");
        for (int seed = 1; seed <= 3; seed++)
            Assert.AreEqual(greedy, await AnswerAsync(path, $"\"temperature\":1.5,\"seed\":{seed},\"min_p\":1"), $"seed {seed}");
    }

    [TestMethod]
    [DataRow("v1/chat/completions", "frequency_penalty", "2.5", "invalid_value")]
    [DataRow("v1/chat/completions", "frequency_penalty", "\"1\"", "invalid_type")]
    [DataRow("v1/completions", "presence_penalty", "-3", "invalid_value")]
    [DataRow("v1/chat/completions", "repetition_penalty", "0", "invalid_value")]
    [DataRow("v1/completions", "repetition_penalty", "true", "invalid_type")]
    [DataRow("v1/chat/completions", "min_p", "1.5", "invalid_value")]
    [DataRow("v1/completions", "min_p", "-0.1", "invalid_value")]
    [DataRow("v1/chat/completions", "logit_bias", "[11]", "invalid_type")]
    [DataRow("v1/completions", "logit_bias", """{"comma":5}""", "invalid_value")]
    [DataRow("v1/chat/completions", "logit_bias", """{"50257":5}""", "invalid_value")]
    [DataRow("v1/completions", "logit_bias", """{"11":101}""", "invalid_value")]
    [DataRow("v1/chat/completions", "logit_bias", """{"11":"5"}""", "invalid_type")]
    [DataRow("v1/chat/completions", "logprobs", "3", "invalid_type")]
    [DataRow("v1/chat/completions", "top_logprobs", "2", "invalid_value")]
    [DataRow("v1/completions", "logprobs", "21", "invalid_value")]
    [DataRow("v1/completions", "logprobs", "true", "invalid_type")]
    [DataRow("v1/completions", "logprobs", "1.5", "invalid_type")]
    [DataRow("v1/chat/completions", "seed", "1.5", "invalid_type")]
    [DataRow("v1/completions", "top_k", "-2", "invalid_value")]
    public async Task ABadValueIsRefusedWithTheFieldNamed(string path, string field, string value, string code)
    {
        (int status, JsonElement json, _) = await _server.PostAsync(path, Body(path, $"\"{field}\":{value}"));

        Assert.AreEqual(400, status, json.ToString());
        JsonElement error = json.GetProperty("error");
        Assert.AreEqual("invalid_request_error", error.GetProperty("type").GetString());
        Assert.AreEqual(field, error.GetProperty("param").GetString(), json.ToString());
        Assert.AreEqual(code, error.GetProperty("code").GetString(), json.ToString());
        StringAssert.Contains(error.GetProperty("message").GetString(), field, "the message names the field");
    }

    [TestMethod]
    public async Task TopLogprobsAboveTwentyIsRefusedWithTheLimit()
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/chat/completions", Body("v1/chat/completions", "\"logprobs\":true,\"top_logprobs\":21"));
        Assert.AreEqual(400, status, json.ToString());
        Assert.AreEqual("top_logprobs", json.GetProperty("error").GetProperty("param").GetString());
        StringAssert.Contains(json.GetProperty("error").GetProperty("message").GetString(), "0 to 20");
    }
}
