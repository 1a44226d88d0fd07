using System.ClientModel;
using System.Text;
using System.Text.Json;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using OpenAI;
using OpenAI.Chat;
using static TorchSharp.torch;

namespace Gpt2Server.Tests;

/// <summary>
/// Log-probabilities on both endpoints in OpenAI's shapes, read by the official OpenAI SDK (chat) and as raw JSON
/// (completions, which the SDK no longer covers). The values of a greedy answer without processors must equal
/// log-softmax of the model's own logits from one plain forward pass over the prompt and the answer: an oracle that
/// shares nothing with the server or the decode loop.
/// </summary>
[TestClass]
public sealed class LogProbabilityTests
{
    private const string Prompt = "Every effort moves you";
    private static ServerHost _server = null!;
    private static OpenAIClient _openAI = null!;
    private static Gpt2Model _model = null!;
    private static Dictionary<string, int> _idOfBytes = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await ServerHost.StartAsync();
        _openAI = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
        _model = Gpt2Checkpoint.Load(ServerHost.TinyModelFolder, CPU);
        // GPT-2's byte-level tokens are distinct byte strings, so a token's bytes name it.
        _idOfBytes = Enumerable.Range(0, Gpt2Tokenizer.Default.VocabSize)
            .ToDictionary(id => Convert.ToHexString(Gpt2Tokenizer.Default.TokenBytes(id)), id => id);
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
        _model.Dispose();
    }

    private static int IdOf(ReadOnlySpan<byte> bytes) => _idOfBytes[Convert.ToHexString(bytes)];

    private static int IdOf(JsonElement bytes) => IdOf([.. bytes.EnumerateArray().Select(b => (byte)b.GetInt32())]);

    private static ChatClient Chat => _openAI.GetChatClient(ServerHost.ModelId);

    private static ChatCompletionOptions SdkOptions(int maxTokens, int? top)
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = maxTokens, Temperature = 0, IncludeLogProbabilities = true };
        if (top is int count)
            options.TopLogProbabilityCount = count;
        return options;
    }

    [TestMethod]
    public async Task ChatLogprobsThroughTheSdkAreLogSoftmaxOfTheModelsLogitsWithTheTopAlternativesInOrder()
    {
        ChatCompletion completion = await Chat.CompleteChatAsync([new UserChatMessage(Prompt)], SdkOptions(10, top: 5));

        IReadOnlyList<ChatTokenLogProbabilityDetails> tokens = completion.ContentTokenLogProbabilities;
        Assert.HasCount(10, tokens);
        int[] generated = [.. tokens.Select(t => IdOf(t.Utf8Bytes!.Value.Span))];
        Assert.AreEqual(completion.Content.Single().Text, Encoding.UTF8.GetString([.. tokens.SelectMany(t => t.Utf8Bytes!.Value.ToArray())]),
            "the tokens' bytes spell the answer");
        double[][] oracle = LogSoftmaxAfterEachPrefix(Gpt2Tokenizer.Default.Encode(Prompt), generated);
        for (int i = 0; i < tokens.Count; i++)
        {
            int[] expectedTop = TopIds(oracle[i], 5);
            Assert.AreEqual(expectedTop[0], generated[i], $"token {i} is the greedy choice");
            Assert.AreEqual(oracle[i][generated[i]], tokens[i].LogProbability, 1e-4, $"token {i}");
            Assert.AreEqual(Encoding.UTF8.GetString(tokens[i].Utf8Bytes!.Value.Span), tokens[i].Token);
            CollectionAssert.AreEqual(expectedTop, tokens[i].TopLogProbabilities.Select(t => IdOf(t.Utf8Bytes!.Value.Span)).ToArray(),
                $"token {i}'s 5 alternatives, most likely first");
            foreach (ChatTokenTopLogProbabilityDetails alternative in tokens[i].TopLogProbabilities)
                Assert.AreEqual(oracle[i][IdOf(alternative.Utf8Bytes!.Value.Span)], alternative.LogProbability, 1e-4);
        }
    }

    [TestMethod]
    public async Task ChatLogprobsAreNullUnlessAskedAndTopLogprobsDefaultToNone()
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/chat/completions",
            $$"""{"model":"{{ServerHost.ModelId}}","messages":[{"role":"user","content":"{{Prompt}}"}],"max_tokens":3}""");
        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual(JsonValueKind.Null, json.GetProperty("choices")[0].GetProperty("logprobs").ValueKind);

        ChatCompletion completion = await Chat.CompleteChatAsync([new UserChatMessage(Prompt)], SdkOptions(3, top: null));
        Assert.HasCount(3, completion.ContentTokenLogProbabilities);
        Assert.IsTrue(completion.ContentTokenLogProbabilities.All(t => t.TopLogProbabilities.Count == 0), "logprobs alone reports no alternatives");
    }

    [TestMethod]
    public async Task StreamedChatChunksCarryTheLogprobsOfTheirTokens()
    {
        ChatCompletion whole = await Chat.CompleteChatAsync([new UserChatMessage(Prompt)], SdkOptions(12, top: 2));

        var streamed = new List<ChatTokenLogProbabilityDetails>();
        var text = new StringBuilder();
        await foreach (StreamingChatCompletionUpdate update in Chat.CompleteChatStreamingAsync([new UserChatMessage(Prompt)], SdkOptions(12, top: 2)))
        {
            streamed.AddRange(update.ContentTokenLogProbabilities);
            text.Append(string.Concat(update.ContentUpdate.Select(part => part.Text)));
        }

        Assert.AreEqual(whole.Content.Single().Text, text.ToString());
        Assert.HasCount(12, streamed);
        CollectionAssert.AreEqual(whole.ContentTokenLogProbabilities.Select(t => t.Token).ToArray(), streamed.Select(t => t.Token).ToArray());
        CollectionAssert.AreEqual(whole.ContentTokenLogProbabilities.Select(t => t.LogProbability).ToArray(), streamed.Select(t => t.LogProbability).ToArray());
        Assert.IsTrue(streamed.All(t => t.TopLogProbabilities.Count == 2));
    }

    [TestMethod]
    public async Task CompletionsLogprobsHaveTokensValuesAlternativesAndTextOffsets()
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/completions",
            $$"""{"model":"{{ServerHost.ModelId}}","prompt":"{{Prompt}}","max_tokens":8,"temperature":0,"logprobs":3}""");
        Assert.AreEqual(200, status, json.ToString());
        JsonElement choice = json.GetProperty("choices")[0];
        string text = choice.GetProperty("text").GetString()!;
        JsonElement logprobs = choice.GetProperty("logprobs");

        string[] tokens = [.. logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
        double[] values = [.. logprobs.GetProperty("token_logprobs").EnumerateArray().Select(v => v.GetDouble())];
        JsonElement[] top = [.. logprobs.GetProperty("top_logprobs").EnumerateArray()];
        int[] offsets = [.. logprobs.GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32())];
        Assert.HasCount(8, tokens);
        Assert.HasCount(8, values);
        Assert.HasCount(8, top);
        Assert.AreEqual(text, string.Concat(tokens), "an ASCII answer: the tokens' texts spell it");
        CollectionAssert.AreEqual(tokens.Select((_, i) => string.Concat(tokens[..i]).Length).ToArray(), offsets, "each token starts where the previous ones end");

        int[] generated = [.. tokens.Select(t => IdOf(Encoding.UTF8.GetBytes(t)))];
        double[][] oracle = LogSoftmaxAfterEachPrefix(Gpt2Tokenizer.Default.Encode(Prompt), generated);
        for (int i = 0; i < tokens.Length; i++)
        {
            Assert.AreEqual(oracle[i][generated[i]], values[i], 1e-4, $"token {i}");
            JsonProperty[] alternatives = [.. top[i].EnumerateObject()];
            Assert.HasCount(3, alternatives, "greedy: the chosen token is among the 3 most likely, so nothing is added");
            CollectionAssert.AreEqual(TopIds(oracle[i], 3), alternatives.Select(a => IdOf(Encoding.UTF8.GetBytes(a.Name))).ToArray());
            foreach (JsonProperty alternative in alternatives)
                Assert.AreEqual(oracle[i][IdOf(Encoding.UTF8.GetBytes(alternative.Name))], alternative.Value.GetDouble(), 1e-4);
        }
    }

    [TestMethod]
    public async Task StreamedCompletionsCarryTheLogprobsOfTheirTokensWithOffsetsCountingOn()
    {
        string body = $$"""{"model":"{{ServerHost.ModelId}}","prompt":"{{Prompt}}","max_tokens":10,"logprobs":1""";
        (_, JsonElement whole, _) = await _server.PostAsync("v1/completions", body + "}");
        JsonElement expected = whole.GetProperty("choices")[0].GetProperty("logprobs");

        using var content = new StringContent(body + ",\"stream\":true}", Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await _server.Http.PostAsync("v1/completions", content);
        string[] events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        JsonElement[] chunks = [.. events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement.GetProperty("choices")[0].GetProperty("logprobs"))];

        string[] Strings(JsonElement logprobs, string name) => [.. logprobs.GetProperty(name).EnumerateArray().Select(v => v.GetRawText())];
        foreach (string name in new[] { "tokens", "token_logprobs", "top_logprobs", "text_offset" })
            CollectionAssert.AreEqual(Strings(expected, name), chunks.SelectMany(c => Strings(c, name)).ToArray(), name);
        Assert.HasCount(10, Strings(expected, "tokens"));
    }

    [TestMethod]
    public async Task SampledTokensReportTheirOwnLogprobAndTheTopAlternativesInOrder()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 1.5f, IncludeLogProbabilities = true, TopLogProbabilityCount = 4 };
#pragma warning disable OPENAI001 // Seed is marked experimental by the SDK.
        options.Seed = 11;
#pragma warning restore OPENAI001
        ChatCompletion completion = await Chat.CompleteChatAsync([new UserChatMessage(Prompt)], options);

        foreach (ChatTokenLogProbabilityDetails token in completion.ContentTokenLogProbabilities)
        {
            float[] top = [.. token.TopLogProbabilities.Select(t => t.LogProbability)];
            Assert.HasCount(4, top);
            CollectionAssert.AreEqual(top.OrderByDescending(v => v).ToArray(), top, "most likely first");
            Assert.IsTrue(token.LogProbability <= 0 && token.LogProbability <= top[0] + 1e-6f);
            if (token.TopLogProbabilities.FirstOrDefault(t => t.Token == token.Token) is { } same)
                Assert.AreEqual(same.LogProbability, token.LogProbability, 1e-6f);
        }
        Assert.HasCount(12, completion.ContentTokenLogProbabilities);
    }

    private static int[] TopIds(double[] logProbabilities, int count) =>
        [.. logProbabilities.Select((value, id) => (value, id)).OrderByDescending(p => p.value).Take(count).Select(p => p.id)];

    // Row i: log-softmax of the logits that chose generated[i], from one forward pass over the prompt and the answer.
    private static double[][] LogSoftmaxAfterEachPrefix(int[] prompt, int[] generated)
    {
        using IDisposable noGrad = no_grad();
        using var scope = NewDisposeScope();
        _model.eval();
        long[] ids = [.. prompt.Concat(generated[..^1]).Select(t => (long)t)];
        Tensor logits = _model.forward(tensor(ids, dtype: ScalarType.Int64).unsqueeze(0));
        Tensor logProbabilities = nn.functional.log_softmax(logits[0].to(ScalarType.Float64), dim: -1);
        return [.. Enumerable.Range(0, generated.Length).Select(i => logProbabilities[prompt.Length - 1 + i].data<double>().ToArray())];
    }
}
