using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gpt2MLNet.AI.Tests;

/// <summary><see cref="Gpt2ChatClient"/> used the way an application uses an <see cref="IChatClient"/>: through a <see cref="ChatClientBuilder"/> pipeline.</summary>
[TestClass]
public sealed class ChatClientTests
{
    private const string Prompt = "Every effort moves you";
    private static Gpt2Model _model = null!;
    private static Gpt2TextGenerationService _service = null!;
    private static Gpt2ChatClient _client = null!;
    private static IChatClient _pipeline = null!;

    [ClassInitialize]
    public static void CreateClient(TestContext _)
    {
        _model = TinyModels.NewRandom();
        _service = new Gpt2TextGenerationService(_model);
        _client = new Gpt2ChatClient(_service, ChatPromptFormat.RawText, modelId: "tiny-random");
        _pipeline = new ChatClientBuilder(_client).UseLogging(NullLoggerFactory.Instance).Build();
    }

    [ClassCleanup]
    public static void Release()
    {
        _pipeline.Dispose();
        _service.Dispose();
        _model.Dispose();
    }

    private static ChatOptions Options(int maxTokens = 10) => new() { MaxOutputTokens = maxTokens };

    [TestMethod]
    public async Task AGreedyAnswerEqualsTheGenerationServiceTextWithUsageAndFinishReason()
    {
        TextGenerationResult expected = _service.Generate(Prompt, new GenerationOptions { MaxNewTokens = 10 });
        ChatResponse response = await _pipeline.GetResponseAsync(Prompt, Options());

        Assert.AreEqual(expected.Text, response.Text);
        Assert.AreEqual(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.AreEqual(ChatFinishReason.Length, response.FinishReason);
        Assert.AreEqual("tiny-random", response.ModelId);
        Assert.AreEqual(Gpt2Tokenizer.Default.Encode(Prompt).Length, response.Usage!.InputTokenCount);
        Assert.AreEqual(10, response.Usage.OutputTokenCount);
        Assert.AreEqual(response.Usage.InputTokenCount + 10, response.Usage.TotalTokenCount);
        Assert.IsNotNull(response.ResponseId);
    }

    [TestMethod]
    public async Task StreamedUpdatesConcatenateToTheSameAnswerAndEndWithFinishReasonAndUsage()
    {
        ChatResponse whole = await _pipeline.GetResponseAsync(Prompt, Options(15));
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in _pipeline.GetStreamingResponseAsync(Prompt, Options(15)))
            updates.Add(update);

        Assert.AreEqual(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.IsTrue(updates.All(u => u.ModelId == "tiny-random" && u.Role == ChatRole.Assistant && u.ResponseId == updates[0].ResponseId));
        Assert.AreEqual(ChatFinishReason.Length, updates[^1].FinishReason);
        Assert.IsTrue(updates[..^1].All(u => u.FinishReason is null), "only the last update carries the finish reason");
        ChatResponse coalesced = updates.ToChatResponse();
        Assert.AreEqual(whole.Text, coalesced.Text);
        Assert.AreEqual(whole.Usage!.InputTokenCount, coalesced.Usage!.InputTokenCount);
        Assert.AreEqual(whole.Usage.OutputTokenCount, coalesced.Usage.OutputTokenCount);
        Assert.AreEqual(ChatFinishReason.Length, coalesced.FinishReason);
    }

    [TestMethod]
    public async Task AStopSequenceEndsTheAnswerBeforeItWithFinishReasonStop()
    {
        string full = (await _pipeline.GetResponseAsync(Prompt, Options(30))).Text;
        string stop = full.Substring(full.Length / 2, 3);
        var options = new ChatOptions { MaxOutputTokens = 30, StopSequences = [stop] };

        ChatResponse response = await _pipeline.GetResponseAsync(Prompt, options);
        Assert.AreEqual(full[..full.IndexOf(stop, StringComparison.Ordinal)], response.Text);
        Assert.AreEqual(ChatFinishReason.Stop, response.FinishReason);
        Assert.IsLessThan(30L, response.Usage!.OutputTokenCount!.Value);

        ChatResponse streamed = await _pipeline.GetStreamingResponseAsync(Prompt, options).ToChatResponseAsync();
        Assert.AreEqual(response.Text, streamed.Text);
        Assert.AreEqual(ChatFinishReason.Stop, streamed.FinishReason);
    }

    [TestMethod]
    public async Task SamplingOptionsMapToTheService()
    {
        var chat = new ChatOptions { MaxOutputTokens = 12, Temperature = 0.8f, TopK = 20, TopP = 0.9f, Seed = 7 };
        var text = new GenerationOptions { MaxNewTokens = 12, Temperature = 0.8f, TopK = 20, TopP = 0.9f, Seed = 7 };
        Assert.AreEqual(_service.Generate(Prompt, text).Text, (await _pipeline.GetResponseAsync(Prompt, chat)).Text);
    }

    [TestMethod]
    public async Task CancellingStopsTheStreamAtTheNextToken()
    {
        using var cancellation = new CancellationTokenSource();
        var updates = new List<ChatResponseUpdate>();
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (ChatResponseUpdate update in _pipeline.GetStreamingResponseAsync(Prompt, Options(40), cancellation.Token))
            {
                updates.Add(update);
                await cancellation.CancelAsync();
            }
        });
        Assert.HasCount(1, updates);
        Assert.AreEqual(10, (await _pipeline.GetResponseAsync(Prompt, Options())).Usage!.OutputTokenCount, "the client serves the next request");
    }

    [TestMethod]
    public async Task ALongConversationKeepsItsLastTokensAndSaysHowManyWereDropped()
    {
        string prompt = string.Join(' ', Enumerable.Range(0, 80).Select(i => $"w{i}"));
        int dropped = Gpt2Tokenizer.Default.Encode(prompt).Length - (64 - 10);
        ChatResponse response = await _pipeline.GetResponseAsync(prompt, Options());
        Assert.AreEqual(64 - 10, response.Usage!.InputTokenCount);
        Assert.AreEqual(dropped, response.AdditionalProperties![Gpt2ChatClient.DroppedPromptTokenCountKey]);

        ChatResponseUpdate last = await _pipeline.GetStreamingResponseAsync(prompt, Options()).LastAsync();
        Assert.AreEqual(dropped, last.AdditionalProperties![Gpt2ChatClient.DroppedPromptTokenCountKey]);
        Assert.IsNull((await _pipeline.GetResponseAsync(Prompt, Options())).AdditionalProperties, "nothing is said when the prompt fits");
    }

    public static IEnumerable<object[]> UnsupportedOptions() =>
    [
        ["Tools", new ChatOptions { Tools = [AIFunctionFactory.Create(() => 42, "answer")] }],
        ["ConversationId", new ChatOptions { ConversationId = "c1" }],
        ["ToolMode", new ChatOptions { ToolMode = ChatToolMode.RequireAny }],
        ["AdditionalProperties", new ChatOptions { AdditionalProperties = new() { ["num_ctx"] = 2048 } }],
        ["ModelId", new ChatOptions { ModelId = "gpt-4o" }],
    ];

    [TestMethod]
    [DynamicData(nameof(UnsupportedOptions))]
    public async Task UnsupportedOptionsAreRefusedNamingTheOption(string option, ChatOptions options)
    {
        var error = await Assert.ThrowsExactlyAsync<NotSupportedException>(() => _pipeline.GetResponseAsync(Prompt, options));
        StringAssert.Contains(error.Message, $"ChatOptions.{option}");
        Assert.ThrowsExactly<NotSupportedException>(() => _client.GetStreamingResponseAsync([new(ChatRole.User, Prompt)], options));
    }

    [TestMethod]
    public async Task NonTextMessagesAndOutOfRangeOptionsAreRefused()
    {
        var image = new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/png")]);
        await Assert.ThrowsExactlyAsync<NotSupportedException>(() => _pipeline.GetResponseAsync([image]));
        await Assert.ThrowsExactlyAsync<NotSupportedException>(() => _pipeline.GetResponseAsync([new ChatMessage(ChatRole.Tool, "42")]));
        var tooLong = await Assert.ThrowsExactlyAsync<ArgumentOutOfRangeException>(() => _pipeline.GetResponseAsync(Prompt, Options(64)));
        StringAssert.Contains(tooLong.Message, "context length");
    }

    [TestMethod]
    public async Task ConcurrentCallersEachGetTheirOwnAnswer()
    {
        string[] prompts = ["Every effort moves you", "The quick brown fox", "中文的句子", "Emoji 😀 and", "Once upon a time"];
        string[] alone = [.. prompts.Select(p => _service.Generate(p, new GenerationOptions { MaxNewTokens = 10 }).Text)];

        Task<ChatResponse>[] whole = [.. prompts.Select(p => Task.Run(() => _pipeline.GetResponseAsync(p, Options())))];
        Task<ChatResponse>[] streamed = [.. prompts.Select(p => Task.Run(() => _pipeline.GetStreamingResponseAsync(p, Options()).ToChatResponseAsync()))];
        CollectionAssert.AreEqual(alone, (await Task.WhenAll(whole)).Select(r => r.Text).ToArray());
        CollectionAssert.AreEqual(alone, (await Task.WhenAll(streamed)).Select(r => r.Text).ToArray());
    }

    [TestMethod]
    public async Task TheCachingMiddlewareServesARepeatedRequestFromTheCache()
    {
        var cache = new DictionaryCache();
        using IChatClient cached = new ChatClientBuilder(_client).UseDistributedCache(cache).UseLogging(NullLoggerFactory.Instance).Build();
        ChatResponse first = await cached.GetResponseAsync(Prompt, Options(8));
        Assert.AreEqual(1, cache.Count);
        ChatResponse second = await cached.GetResponseAsync(Prompt, Options(8));
        Assert.AreEqual(first.Text, second.Text);
        Assert.AreEqual(first.ResponseId, second.ResponseId, "the second answer is the cached one");
    }

    [TestMethod]
    public void TheClientDescribesItselfThroughGetService()
    {
        ChatClientMetadata metadata = _pipeline.GetService<ChatClientMetadata>()!;
        Assert.AreEqual(Gpt2ChatClient.ProviderName, metadata.ProviderName);
        Assert.AreEqual("tiny-random", metadata.DefaultModelId);
        Assert.AreSame(_client, _pipeline.GetService<Gpt2ChatClient>());
        Assert.AreSame(_model, _pipeline.GetService<Gpt2Model>());
        Assert.AreSame(_service, _pipeline.GetService<Gpt2TextGenerationService>());
        Assert.IsNull(_pipeline.GetService<ChatClientMetadata>("some key"));
    }

    [TestMethod]
    public async Task OneLineBuildsAClientFromAModelSource()
    {
        string expected;
        using (Gpt2ChatClient client = Gpt2ChatClient.Create(TinyModels.FixturePath, engine: DecodingEngine.TorchSharp))
        {
            Assert.AreEqual("torchsharp", client.Service.EngineName);
            Assert.AreEqual(TinyModels.FixturePath, client.GetService<ChatClientMetadata>()!.DefaultModelId);
            ChatResponse response = await client.GetResponseAsync("in the of and to", new ChatOptions { MaxOutputTokens = 5 });
            Assert.AreEqual(5, response.Usage!.OutputTokenCount);
            expected = response.Text;
        }
        using (Gpt2ChatClient client = Gpt2ChatClient.Create(TinyModels.FixturePath))
        {
            Assert.AreEqual("onnxruntime", client.Service.EngineName, "a model loaded on the CPU decodes in ONNX Runtime unless told otherwise");
            Assert.AreEqual(expected, (await client.GetResponseAsync("in the of and to", new ChatOptions { MaxOutputTokens = 5 })).Text);
        }

        using Gpt2Model model = TinyModels.NewRandom();
        using (Gpt2ChatClient client = Gpt2ChatClient.Create(LanguageModelSource.FromModel(model), ChatPromptFormat.Alpaca))
        {
            Assert.AreEqual("torchsharp", client.Service.EngineName, "a model in memory keeps TorchSharp unless told otherwise");
            Assert.AreEqual(ChatFinishReason.Length, (await client.GetResponseAsync("Name a color.", Options(3))).FinishReason);
        }
        Assert.AreEqual(64, model.Config.ContextLength);
        Assert.IsFalse(model.TokenEmbedding.IsInvalid, "a model in memory stays its owner's");
    }

    [TestMethod]
    public async Task AnInstructionFormatAnswersTheRenderedPrompt()
    {
        using var alpaca = new Gpt2ChatClient(_service, ChatPromptFormat.Alpaca, "tiny-random");
        ChatMessage[] messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Name a color.")];
        string prompt = ChatPromptFormat.Alpaca.Render(messages);
        ChatResponse response = await alpaca.GetResponseAsync(messages, Options());
        Assert.AreEqual(_service.Generate(prompt, new GenerationOptions { MaxNewTokens = 10 }).Text, response.Text);
        Assert.AreEqual(Gpt2Tokenizer.Default.Encode(prompt).Length, response.Usage!.InputTokenCount);
    }

    /// <summary>An <see cref="IDistributedCache"/> in a dictionary.</summary>
    private sealed class DictionaryCache : IDistributedCache
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _entries = new();

        public int Count => _entries.Count;

        public byte[]? Get(string key) => _entries.TryGetValue(key, out byte[]? value) ? value : null;

        public Task<byte[]?> GetAsync(string key, CancellationToken token = default) => Task.FromResult(Get(key));

        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => _entries[key] = value;

        public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
        {
            Set(key, value, options);
            return Task.CompletedTask;
        }

        public void Refresh(string key)
        {
        }

        public Task RefreshAsync(string key, CancellationToken token = default) => Task.CompletedTask;

        public void Remove(string key) => _entries.TryRemove(key, out _);

        public Task RemoveAsync(string key, CancellationToken token = default)
        {
            Remove(key);
            return Task.CompletedTask;
        }
    }
}
