using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// <see cref="LanguageModelHost"/>: log-probabilities plumbed into results and stream updates, stop sequences in text
/// results, embeddings between decode steps, a failing row failing alone, and disposal failing unfinished work.
/// </summary>
[TestClass]
public sealed class LanguageModelHostTests
{
    private static Gpt2Model _model = null!;

    [ClassInitialize]
    public static void CreateModel(TestContext _)
    {
        manual_seed(2468);
        _model = new Gpt2Model(new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }, CPU);
    }

    [ClassCleanup]
    public static void Release() => _model.Dispose();

    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 12, StopAtEndOfText = false };

    [TestMethod]
    public async Task GreedyLogProbabilitiesNameEachGeneratedTokenAsTheirTopEntryAndStreamInExactlyOneUpdateEach()
    {
        using var service = new Gpt2TextGenerationService(_model);
        GenerationOptions options = Greedy with { LogProbabilities = 3 };
        TextGenerationResult result = service.Generate("Log probabilities of", options);
        int[] generated = Generated(service, "Log probabilities of", Greedy);

        Assert.IsNotNull(result.LogProbabilities);
        Assert.HasCount(result.CompletionTokenCount, result.LogProbabilities);
        for (int i = 0; i < generated.Length; i++)
        {
            GeneratedTokenLogProbability entry = result.LogProbabilities[i];
            Assert.AreEqual(generated[i], entry.TokenId, $"token {i}");
            Assert.HasCount(3, entry.TopLogProbabilities);
            Assert.AreEqual(entry.TokenId, entry.TopLogProbabilities[0].TokenId, $"token {i}: greedy takes the most likely token");
            Assert.AreEqual(entry.LogProbability, entry.TopLogProbabilities[0].LogProbability, 1e-12);
        }
        Assert.IsNull(service.Generate("Log probabilities of", Greedy).LogProbabilities, "none unless asked");

        TextGenerationStream stream = service.GenerateStreamingAsync("Log probabilities of", options);
        var streamed = new List<GeneratedTokenLogProbability>();
        var text = new System.Text.StringBuilder();
        await foreach (TextGenerationUpdate update in stream.Updates)
        {
            streamed.AddRange(update.LogProbabilities);
            text.Append(update.Text);
        }
        Assert.AreEqual(result.Text, text.ToString());
        CollectionAssert.AreEqual(result.LogProbabilities.Select(e => (e.TokenId, e.LogProbability)).ToArray(),
            streamed.Select(e => (e.TokenId, e.LogProbability)).ToArray(), "each token reports in exactly one update");
        Assert.HasCount(result.CompletionTokenCount, stream.Result!.LogProbabilities!);
    }

    [TestMethod]
    public async Task AStopSequenceEndsTheTextBeforeItAndNoStreamedPieceHoldsPartOfIt()
    {
        using var service = new Gpt2TextGenerationService(_model);
        const string prompt = "Stop sequences end";
        int[] free = Generated(service, prompt, Greedy with { MaxNewTokens = 20 });
        int[] stop = free[6..8];
        GenerationOptions options = Greedy with { MaxNewTokens = 20, StopSequences = [stop] };
        int first = Enumerable.Range(0, free.Length - 1).First(i => free[i] == stop[0] && free[i + 1] == stop[1]);

        TextGenerationResult result = service.Generate(prompt, options);

        Assert.AreEqual(TextGenerationFinishReason.StopString, result.FinishReason);
        Assert.AreEqual(first + 2, result.CompletionTokenCount, "the tokens up to the stop's last are generated");
        Assert.AreEqual(Gpt2Tokenizer.Default.Decode(free[..first]), result.Text, "the text ends before the stop");
        var pieces = new List<string>();
        await foreach (string piece in service.GenerateStreamingAsync(prompt, options))
            pieces.Add(piece);
        Assert.AreEqual(result.Text, string.Concat(pieces));
        int[] tokens = new Gpt2Generator(_model).Generate(Gpt2Tokenizer.Default.Encode(prompt), options);
        CollectionAssert.AreEqual(stop, tokens[^2..], "token results keep the stop at the end");
    }

    [TestMethod]
    public async Task EmbeddingsBetweenDecodeStepsEqualTheirSoloValues()
    {
        using var host = new LanguageModelHost(_model);
        using var service = new Gpt2TextGenerationService(host);
        int[][] texts = [[1, 2, 3, 4], [50, 60], [7, 8, 9, 10, 11, 12, 13]];
        float[][] solo = await host.EmbedAsync(texts, EmbeddingPooling.Mean, normalize: true);
        TextGenerationResult expected = service.Generate("Beside embeddings", Greedy with { MaxNewTokens = 40 });

        Task<TextGenerationResult> generating = service.GenerateAsync("Beside embeddings", Greedy with { MaxNewTokens = 40 });
        float[][][] during = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => host.EmbedAsync(texts, EmbeddingPooling.Mean, normalize: true)));

        Assert.AreEqual(expected, await generating);
        foreach (float[][] vectors in during)
            for (int i = 0; i < texts.Length; i++)
                CollectionAssert.AreEqual(solo[i], vectors[i], $"text {i}");
        Assert.ThrowsExactly<ArgumentException>(() => host.EmbedAsync([new int[65]]));
        Assert.ThrowsExactly<ArgumentException>(() => host.EmbedAsync([[]]));
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public async Task WorkQueuedAgainAsSoonAsItIsServedDoesNotStarveAGeneration()
    {
        using var service = new Gpt2TextGenerationService(_model);
        string expected = service.Generate("Starved or not", Greedy).Text;
        using var done = new CancellationTokenSource();
        int served = 0;
        // A caller that queues its next request before its current one returns: the queue is never empty.
        int Embed()
        {
            if (!done.IsCancellationRequested)
                _ = service.Host.RunAsync(Embed);
            return Interlocked.Increment(ref served);
        }
        await service.Host.RunAsync(Embed);

        Task<TextGenerationResult> generation = service.GenerateAsync("Starved or not", Greedy);
        bool finished = await Task.WhenAny(generation, Task.Delay(TimeSpan.FromSeconds(60))) == generation;
        done.Cancel();

        Assert.IsTrue(finished, $"the generation should finish within 60 s while work is queued again and again ({served} items served)");
        Assert.AreEqual(expected, (await generation).Text);
    }

    [TestMethod]
    public async Task ConcurrentEmbeddingRequestsShareOneForwardPassAndEachGetsItsSoloVectors()
    {
        using var host = new LanguageModelHost(_model);
        int[][][] requests = [[[5, 6, 7]], [[8, 9, 10, 11, 12, 13], [14]], [[15, 16]], [[17, 18, 19, 20]]];
        (EmbeddingPooling Pooling, bool Normalize)[] asked =
            [(EmbeddingPooling.Mean, false), (EmbeddingPooling.LastToken, true), (EmbeddingPooling.Mean, true), (EmbeddingPooling.LastToken, false)];
        var solo = new List<float[][]>();
        for (int i = 0; i < requests.Length; i++)
            solo.Add(await host.EmbedAsync(requests[i], asked[i].Pooling, asked[i].Normalize));
        int passesAlone = host.EmbeddingPassCount;

        // Hold the scheduler so that all four requests wait for the same round.
        using var release = new SemaphoreSlim(0);
        Task held = host.RunAsync(() => release.Wait(TimeSpan.FromSeconds(60)));
        Task<float[][]>[] together = [.. Enumerable.Range(0, requests.Length).Select(i => host.EmbedAsync(requests[i], asked[i].Pooling, asked[i].Normalize))];
        release.Release();
        await held;
        float[][][] results = await Task.WhenAll(together);

        Assert.AreEqual(requests.Length, passesAlone, "alone, each request is one pass");
        Assert.AreEqual(passesAlone + 1, host.EmbeddingPassCount, "waiting together, they share one pass");
        for (int i = 0; i < requests.Length; i++)
            for (int row = 0; row < requests[i].Length; row++)
                CollectionAssert.AreEqual(solo[i][row], results[i][row], new FloatTolerance(1e-5f), $"request {i}, row {row} ({asked[i]})");
    }

    private sealed class FloatTolerance(float tolerance) : System.Collections.IComparer
    {
        public int Compare(object? x, object? y) => Math.Abs((float)x! - (float)y!) <= tolerance ? 0 : 1;
    }

    [TestMethod]
    public void ARowWhoseCallbackThrowsFailsAloneAndTheOthersGetTheirSoloTokens()
    {
        using var host = new LanguageModelHost(_model);
        int[][] prompts = [[5, 6, 7], [100, 200]];
        int[] solo = new Gpt2Generator(_model).Generate(prompts[1], Greedy);
        GenerationRow[] rows = host.Submit(prompts, Greedy, row => row == 0 ? token => throw new InvalidOperationException("callback failed") : null,
            streamed: false, CancellationToken.None);

        var failure = Assert.ThrowsExactly<AggregateException>(() => rows[0].Outcome.Wait());
        StringAssert.Contains(failure.InnerException!.Message, "callback failed");
        CollectionAssert.AreEqual(solo[prompts[1].Length..], rows[1].Outcome.Result.Tokens);
    }

    [TestMethod]
    public async Task HostsOverOneModelHoldItsLockForEveryStepAndGetTheirSoloAnswersAtOnce()
    {
        using var first = new Gpt2TextGenerationService(_model);
        using var second = new Gpt2TextGenerationService(_model);
        using var generator = new Gpt2Generator(_model);
        GenerationOptions options = Greedy with { MaxNewTokens = 30 };
        TextGenerationResult expected = first.Generate("Two hosts, one model", options);
        int[] prompt = [3, 4, 5];
        int[] expectedTokens = generator.Generate(prompt, options);

        bool everyStepHeldTheLock = true;
        Task<int[]> tokens = Task.Run(() => generator.Generate(prompt, options, _ => everyStepHeldTheLock &= ModelGate.For(_model).IsHeldByCurrentThread));
        TextGenerationResult[] answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => (i % 2 == 0 ? first : second).GenerateAsync("Two hosts, one model", options)));

        CollectionAssert.AreEqual(expectedTokens, await tokens);
        Assert.IsTrue(everyStepHeldTheLock, "each step of a host holds the model's lock, so hosts over one model never run it at once");
        foreach (TextGenerationResult answer in answers)
            Assert.AreEqual(expected, answer);
    }

    [TestMethod]
    public async Task DisposingTheHostFailsUnfinishedWorkWithObjectDisposedException()
    {
        var host = new LanguageModelHost(_model);
        var service = new Gpt2TextGenerationService(host);
        TextGenerationStream stream = service.GenerateStreamingAsync("Disposed while", Greedy with { MaxNewTokens = 60 - 3 });
        await using IAsyncEnumerator<string> pieces = stream.GetAsyncEnumerator();
        Assert.IsTrue(await pieces.MoveNextAsync());
        host.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () =>
        {
            while (await pieces.MoveNextAsync())
            {
            }
        });
        Assert.ThrowsExactly<ObjectDisposedException>(() => service.Generate("After", Greedy));
        Assert.HasCount(3 + 2, new Gpt2Generator(_model).Generate([1, 2, 3], Greedy with { MaxNewTokens = 2 }), "a host that does not own the model leaves it alone");
    }

    [TestMethod]
    public async Task TensorsAndNativeMemoryStayFlatOverManyMixedGenerations()
    {
        using var host = new LanguageModelHost(_model);
        using var service = new Gpt2TextGenerationService(host);
        // A row that runs through the whole test keeps the scheduler on one thread, whose live tensors can then be counted;
        // its window jumps past the context again and again.
        using var keeping = new CancellationTokenSource();
        GenerationRow keeper = host.Submit([[1]], Greedy with { MaxNewTokens = 1_000_000 }, onToken: null, streamed: false, keeping.Token)[0];
        int[] pastTheContext = [.. Enumerable.Range(0, 60).Select(i => (i * 37 + 11) % 50000)];
        GenerationOptions options = Greedy with { MaxNewTokens = 24 };
        async Task Round(int round)
        {
            using var leaving = new CancellationTokenSource();
            Task<TextGenerationResult> whole = service.GenerateAsync($"Round {round} of many", options with { LogProbabilities = 2 });
            Task streamed = Task.Run(async () =>
            {
                await foreach (TextGenerationUpdate _ in service.GenerateStreamingAsync("Streamed and left", options, leaving.Token).Updates)
                    await leaving.CancelAsync();
            });
            Task<GenerationOutcome> windows = host.Submit([pastTheContext], options, onToken: null, streamed: false, CancellationToken.None)[0].Outcome;
            Task<float[][]> embedded = host.EmbedAsync([[1, 2, 3], [4, 5]]);
            service.GenerateBatch(["a", "bb bb", "ccc ccc ccc"], options with { Temperature = 0.8, Seed = round });
            await Task.WhenAll(whole, windows, embedded);
            await Assert.ThrowsAsync<OperationCanceledException>(() => streamed);
        }

        for (int round = 0; round < 10; round++)
            await Round(round);
        (long tensors, long bytes) before = await MeasureAsync();
        for (int round = 10; round < 110; round++)
            await Round(round);
        (long tensors, long bytes) after = await MeasureAsync();
        Assert.IsFalse(keeper.Outcome.IsCompleted, "the keeping row ran throughout");
        await keeping.CancelAsync();

        Assert.AreEqual(before.tensors, after.tensors, "tensors left undisposed on the scheduler thread");
        // Growth only: the runtime hands back a megabyte or two now and then, which is no leak.
        Assert.IsLessThanOrEqualTo(1.05, after.bytes / (double)before.bytes,
            $"native memory in use grew from {before.bytes / 1e6:F1} MB to {after.bytes / 1e6:F1} MB");

        async Task<(long, long)> MeasureAsync()
        {
            long live = await host.RunAsync(() => TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return (live, NativeHeap.FloorOfBytesInUse());
        }
    }

    private static int[] Generated(Gpt2TextGenerationService service, string prompt, GenerationOptions options)
    {
        int[] ids = service.Tokenizer.Encode(prompt);
        return new Gpt2Generator(service.Model).Generate(ids, options)[ids.Length..];
    }
}
