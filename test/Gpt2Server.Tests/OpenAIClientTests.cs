using System.ClientModel;
using System.Text;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using AIChatFinishReason = Microsoft.Extensions.AI.ChatFinishReason;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using SdkChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace Gpt2Server.Tests;

/// <summary>
/// The server as the clients people use see it: the official OpenAI .NET SDK, Microsoft.Extensions.AI's IChatClient over
/// it, and raw HTTP, against real Kestrel; every answer equals the service's own greedy text for the same prompt.
/// </summary>
[TestClass]
public sealed class OpenAIClientTests
{
    private static ServerHost _server = null!;
    private static Gpt2TextGenerationService _reference = null!;
    private static OpenAIClient _openAI = null!;

    [ClassInitialize]
    public static async Task StartServer(TestContext _)
    {
        _server = await ServerHost.StartAsync(null, "--max-body-bytes", "65536");
        _reference = Gpt2TextGenerationService.Load(ServerHost.TinyModelFolder);
        _openAI = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
        _reference.Dispose();
    }

    private static TextGenerationResult Expected(string prompt, int maxTokens, params string[] stops) =>
        _reference.Generate(prompt, new GenerationOptions { MaxNewTokens = maxTokens, StopStrings = stops });

    [TestMethod]
    public async Task ModelsListsTheServedModelAndHealthSaysOk()
    {
        OpenAI.Models.OpenAIModelCollection models = await _openAI.GetOpenAIModelClient().GetModelsAsync();
        CollectionAssert.AreEqual(new[] { ServerHost.ModelId }, models.Select(m => m.Id).ToArray());

        JsonElement health = JsonDocument.Parse(await _server.Http.GetStringAsync("health")).RootElement;
        Assert.AreEqual("ok", health.GetProperty("status").GetString());
        Assert.AreEqual(ServerHost.ModelId, health.GetProperty("model").GetString());
    }

    [TestMethod]
    public async Task OpenAISdkChatEqualsTheServiceGreedyTextWithUsageAndLengthFinish()
    {
        const string prompt = "Every effort moves you";
        TextGenerationResult expected = Expected(prompt, 20);
        Assert.AreEqual(TextGenerationFinishReason.Length, expected.FinishReason, "a random model writes to the limit");

        ChatCompletion completion = await _openAI.GetChatClient(ServerHost.ModelId).CompleteChatAsync(
            [new UserChatMessage(prompt)], new ChatCompletionOptions { MaxOutputTokenCount = 20, Temperature = 0 });

        Assert.AreEqual(expected.Text, completion.Content.Single().Text);
        Assert.AreEqual(SdkChatFinishReason.Length, completion.FinishReason);
        Assert.AreEqual(ChatMessageRole.Assistant, completion.Role);
        Assert.AreEqual(expected.PromptTokenCount, completion.Usage.InputTokenCount);
        Assert.AreEqual(20, completion.Usage.OutputTokenCount);
        Assert.AreEqual(expected.PromptTokenCount + 20, completion.Usage.TotalTokenCount);
        Assert.AreEqual(ServerHost.ModelId, completion.Model);
    }

    [TestMethod]
    public async Task OpenAISdkChatEndsBeforeAStopStringWithFinishReasonStop()
    {
        const string prompt = "The quick brown fox";
        string whole = Expected(prompt, 30).Text;
        string stop = whole.Substring(whole.Length / 2, 3);
        TextGenerationResult expected = Expected(prompt, 30, stop);
        Assert.AreEqual(TextGenerationFinishReason.StopString, expected.FinishReason);

        var options = new ChatCompletionOptions { MaxOutputTokenCount = 30 };
        options.StopSequences.Add(stop);
        ChatCompletion completion = await _openAI.GetChatClient(ServerHost.ModelId).CompleteChatAsync([new UserChatMessage(prompt)], options);

        Assert.AreEqual(expected.Text, completion.Content.Single().Text);
        Assert.IsFalse(completion.Content.Single().Text.Contains(stop, StringComparison.Ordinal));
        Assert.AreEqual(SdkChatFinishReason.Stop, completion.FinishReason);
        Assert.AreEqual(expected.CompletionTokenCount, completion.Usage.OutputTokenCount);
    }

    [TestMethod]
    public async Task OpenAISdkStreamingChatChunksConcatenateToTheGreedyText()
    {
        const string prompt = "Once upon a time";
        TextGenerationResult expected = Expected(prompt, 25);

        var text = new StringBuilder();
        int chunks = 0;
        SdkChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (StreamingChatCompletionUpdate update in _openAI.GetChatClient(ServerHost.ModelId).CompleteChatStreamingAsync(
            [new UserChatMessage(prompt)], new ChatCompletionOptions { MaxOutputTokenCount = 25 }))
        {
            foreach (ChatMessageContentPart part in update.ContentUpdate)
            {
                text.Append(part.Text);
                chunks++;
            }
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.AreEqual(expected.Text, text.ToString());
        Assert.IsTrue(chunks > 1, $"streamed in {chunks} chunks");
        Assert.AreEqual(SdkChatFinishReason.Length, finish);
        Assert.IsNotNull(usage, "the SDK asks for usage (stream_options.include_usage) and gets it");
        Assert.AreEqual(expected.PromptTokenCount, usage.InputTokenCount);
        Assert.AreEqual(25, usage.OutputTokenCount);
    }

    [TestMethod]
    public async Task ExtensionsAIChatClientOverTheOpenAIAdapterGetsTheGreedyText()
    {
        const string prompt = "In the beginning";
        TextGenerationResult expected = Expected(prompt, 15);
        using IChatClient client = _openAI.GetChatClient(ServerHost.ModelId).AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 15, Temperature = 0 };

        ChatResponse response = await client.GetResponseAsync([new AIChatMessage(ChatRole.User, prompt)], options);
        Assert.AreEqual(expected.Text, response.Text);
        Assert.AreEqual(AIChatFinishReason.Length, response.FinishReason);
        Assert.AreEqual(expected.PromptTokenCount, response.Usage!.InputTokenCount);
        Assert.AreEqual(15, response.Usage.OutputTokenCount);

        List<ChatResponseUpdate> updates = [];
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync([new AIChatMessage(ChatRole.User, prompt)], options))
            updates.Add(update);
        ChatResponse streamed = updates.ToChatResponse();
        Assert.AreEqual(expected.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.AreEqual(AIChatFinishReason.Length, streamed.FinishReason);
        Assert.AreEqual(15, streamed.Usage!.OutputTokenCount);
    }

    [TestMethod]
    public async Task CompletionsOverRawHttpEqualTheServiceWithUsage()
    {
        const string prompt = "Hello, my name is";
        TextGenerationResult expected = Expected(prompt, 12);
        (int status, JsonElement json, _) = await _server.PostAsync("v1/completions",
            $$"""{"model":"{{ServerHost.ModelId}}","prompt":"{{prompt}}","max_tokens":12,"temperature":0}""");

        Assert.AreEqual(200, status, json.ToString());
        Assert.AreEqual("text_completion", json.GetProperty("object").GetString());
        JsonElement choice = json.GetProperty("choices").EnumerateArray().Single();
        Assert.AreEqual(expected.Text, choice.GetProperty("text").GetString());
        Assert.AreEqual("length", choice.GetProperty("finish_reason").GetString());
        JsonElement usage = json.GetProperty("usage");
        Assert.AreEqual(expected.PromptTokenCount, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.AreEqual(12, usage.GetProperty("completion_tokens").GetInt32());
        Assert.AreEqual(expected.PromptTokenCount + 12, usage.GetProperty("total_tokens").GetInt32());
    }

    [TestMethod]
    public async Task StreamingCompletionsAreServerSentEventsEndingWithDone()
    {
        const string prompt = "It was a dark and stormy night";
        TextGenerationResult expected = Expected(prompt, 18);
        using var content = new StringContent(
            $$$"""{"model":"{{{ServerHost.ModelId}}}","prompt":"{{{prompt}}}","max_tokens":18,"stream":true,"stream_options":{"include_usage":true}}""",
            Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await _server.Http.PostAsync("v1/completions", content);
        Assert.AreEqual(200, (int)response.StatusCode);
        Assert.AreEqual("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        string body = await response.Content.ReadAsStringAsync();

        Assert.IsTrue(body.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal), body[^40..]);
        string[] events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.IsTrue(events.All(e => e.StartsWith("data: ", StringComparison.Ordinal) && !e.Contains('\n')), "every event is one data: line");
        JsonElement[] chunks = [.. events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement)];
        Assert.IsTrue(chunks.All(c => c.GetProperty("object").GetString() == "text_completion"));
        JsonElement[] withChoice = [.. chunks.Where(c => c.GetProperty("choices").GetArrayLength() == 1).Select(c => c.GetProperty("choices")[0])];
        Assert.AreEqual(expected.Text, string.Concat(withChoice.Select(c => c.GetProperty("text").GetString())));
        Assert.IsTrue(withChoice[..^1].All(c => c.GetProperty("finish_reason").ValueKind == JsonValueKind.Null));
        Assert.AreEqual("length", withChoice[^1].GetProperty("finish_reason").GetString());
        JsonElement usage = chunks[^1].GetProperty("usage");
        Assert.AreEqual(0, chunks[^1].GetProperty("choices").GetArrayLength(), "usage comes in a last chunk without choices");
        Assert.AreEqual(expected.PromptTokenCount, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.AreEqual(18, usage.GetProperty("completion_tokens").GetInt32());
    }

    [TestMethod]
    public async Task StreamingChatOverRawHttpSendsRoleThenContentDeltasThenFinishThenDone()
    {
        const string prompt = "Roses are red";
        TextGenerationResult expected = Expected(prompt, 10);
        using var content = new StringContent(
            $$"""{"model":"{{ServerHost.ModelId}}","messages":[{"role":"user","content":"{{prompt}}"}],"max_tokens":10,"stream":true}""",
            Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await _server.Http.PostAsync("v1/chat/completions", content);
        string body = await response.Content.ReadAsStringAsync();

        string[] events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual("data: [DONE]", events[^1]);
        JsonElement[] choices = [.. events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement)
            .Select(c => { Assert.AreEqual("chat.completion.chunk", c.GetProperty("object").GetString()); return c.GetProperty("choices")[0]; })];
        Assert.AreEqual("assistant", choices[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.AreEqual(expected.Text, string.Concat(choices.Select(c => c.GetProperty("delta").TryGetProperty("content", out JsonElement t) ? t.GetString() : "")));
        Assert.AreEqual("length", choices[^1].GetProperty("finish_reason").GetString());
        Assert.IsFalse(events.Any(e => e.Contains("\"usage\"", StringComparison.Ordinal)), "no usage chunk unless asked for");
    }

    [TestMethod]
    public async Task SixteenConcurrentClientsEachGetTheirSoloAnswer()
    {
        string[] prompts = [.. Enumerable.Range(0, 16).Select(i => $"Client number {i} says")];
        string[] expected = [.. prompts.Select(p => Expected(p, 10).Text)];
        ChatClient chat = _openAI.GetChatClient(ServerHost.ModelId);

        Task<string>[] answers = [.. prompts.Select((p, i) => Task.Run(async () =>
        {
            var options = new ChatCompletionOptions { MaxOutputTokenCount = 10 };
            if (i % 2 == 0)
                return (await chat.CompleteChatAsync([new UserChatMessage(p)], options)).Value.Content.Single().Text;
            var text = new StringBuilder();
            await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync([new UserChatMessage(p)], options))
                text.Append(string.Concat(update.ContentUpdate.Select(part => part.Text)));
            return text.ToString();
        }))];
        string[] actual = await Task.WhenAll(answers);

        CollectionAssert.AreEqual(expected, actual);
        JsonElement health = JsonDocument.Parse(await _server.Http.GetStringAsync("health")).RootElement;
        Assert.IsTrue(health.GetProperty("peak_batch_size").GetInt32() > 1, $"requests were decoded together: {health}");
    }
}
