using System.Text;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// <see cref="Gpt2TextGenerationService"/>'s host (<see cref="LanguageModelHost"/>), in TorchSharp and in ONNX Runtime:
/// concurrent calls join the running batch and leave it as they finish, and each gets exactly what it gets alone.
/// </summary>
[TestClass]
public sealed class ContinuousBatchingTests
{
    private static Gpt2Model _model = null!;
    private static Gpt2TextGenerationService _solo = null!;

    [ClassInitialize]
    public static void CreateModel(TestContext _)
    {
        manual_seed(4321);
        _model = new Gpt2Model(new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }, CPU);
        _solo = new Gpt2TextGenerationService(_model);
    }

    [ClassCleanup]
    public static void Release()
    {
        _solo.Dispose();
        _model.Dispose();
    }

    // The engine under test; the expected answers always come from TorchSharp without batching.
    private static OnnxRuntimeDecoding? Engine(bool onnxRuntime) => onnxRuntime ? new OnnxRuntimeDecoding() : null;

    private static (string Prompt, GenerationOptions Options)[] Requests() =>
    [
        .. Enumerable.Range(0, 20).Select(i => (
            Prompt: string.Concat(Enumerable.Repeat($"Request {i} asks about things ", 1 + i % 4)),
            Options: new GenerationOptions { MaxNewTokens = 5 + 7 * (i % 6) })),
        ("A stop string ends this one", new GenerationOptions { MaxNewTokens = 40, StopStrings = ["e"] }),
        ("Sampled with a seed", new GenerationOptions { MaxNewTokens = 30, Temperature = 0.9, TopP = 0.95, Seed = 11 }),
        ("Sampled with top-k", new GenerationOptions { MaxNewTokens = 20, Temperature = 1.2, TopK = 5, Seed = 3 }),
    ];

    private static async Task<(string Text, TextGenerationResult Result)> StreamAsync(Gpt2TextGenerationService service, string prompt,
        GenerationOptions options, int delayMilliseconds)
    {
        await Task.Delay(delayMilliseconds);
        TextGenerationStream stream = service.GenerateStreamingAsync(prompt, options);
        var text = new StringBuilder();
        await foreach (string piece in stream)
            text.Append(piece);
        return (text.ToString(), stream.Result!);
    }

    [TestMethod]
    [DataRow(false, DisplayName = "TorchSharp")]
    [DataRow(true, DisplayName = "ONNX Runtime")]
    public async Task ConcurrentCallsJoinTheRunningBatchAndEachGetsItsSoloAnswer(bool onnxRuntime)
    {
        (string Prompt, GenerationOptions Options)[] requests = Requests();
        TextGenerationResult[] expected = [.. requests.Select(r => _solo.Generate(r.Prompt, r.Options))];
        using var batched = new Gpt2TextGenerationService(_model, onnxRuntime: Engine(onnxRuntime));

        // Streaming and whole calls, arriving at staggered times while earlier ones are decoding.
        Task<(string Text, TextGenerationResult Result)>[] calls = [.. requests.Select((r, i) => i % 3 == 0
            ? batched.GenerateAsync(r.Prompt, r.Options).ContinueWith(t => (t.Result.Text, t.Result), TaskScheduler.Default)
            : StreamAsync(batched, r.Prompt, r.Options, delayMilliseconds: 3 * i))];
        (string Text, TextGenerationResult Result)[] actual = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromMinutes(2));

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.AreEqual(expected[i], actual[i].Result, $"request {i}");
            Assert.AreEqual(expected[i].Text, actual[i].Text, $"request {i}: the pieces concatenate to the text");
        }
        Assert.AreEqual(TextGenerationFinishReason.StopString, actual[20].Result.FinishReason);
        Assert.IsTrue(batched.PeakContinuousBatchSize > 1, $"peak batch {batched.PeakContinuousBatchSize}: requests were decoded together");
        Assert.AreEqual(onnxRuntime, batched.UsesOnnxRuntime);
    }

    [TestMethod]
    [DataRow(false, DisplayName = "TorchSharp")]
    [DataRow(true, DisplayName = "ONNX Runtime")]
    public async Task ShorterPromptsJoiningARunningBatchGetTheirSoloAnswers(bool onnxRuntime)
    {
        // Each prompt joins while the earlier rows are mid-generation and their caches are longer than its prompt (the
        // joining cache is right-aligned into the batch's). A row joins only while the batch's cache still has room for all
        // its new tokens, so with the class's 64-token model the window was 9 steps, which a loaded machine could miss: a
        // 512-token context and 200 new tokens leave the later prompts some 200 steps to join.
        manual_seed(99);
        using var model = new Gpt2Model(new Gpt2Config { ContextLength = 512, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }, CPU);
        using var solo = new Gpt2TextGenerationService(model);
        using var batched = new Gpt2TextGenerationService(model, onnxRuntime: Engine(onnxRuntime));
        var options = new GenerationOptions { MaxNewTokens = 200, StopAtEndOfText = false };
        string[] prompts = ["A long first prompt that runs for quite a few tokens before the others arrive", "Shorter one", "x", "Mid sized prompt here"];
        var results = new List<Task<TextGenerationResult>>();
        // The first prompt runs alone for a step; the shorter ones are then submitted together while the test holds the
        // model's lock (which every step takes), so that they join the running batch together (their caches right-aligned
        // into its longer one).
        results.Add(batched.GenerateAsync(prompts[0], options));
        await WaitUntilAsync(() => batched.PeakContinuousBatchSize >= 1);
        using (ModelGate.For(model).EnterScope())
        {
            foreach (string prompt in prompts[1..])
                results.Add(batched.GenerateAsync(prompt, options));
        }
        TextGenerationResult[] actual = await Task.WhenAll(results).WaitAsync(TimeSpan.FromMinutes(2));
        for (int i = 0; i < prompts.Length; i++)
            Assert.AreEqual(solo.Generate(prompts[i], options), actual[i], $"prompt {i}");
        Assert.IsGreaterThanOrEqualTo(prompts.Length - 1, batched.PeakContinuousBatchSize, "the shorter prompts were decoded together");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!condition())
        {
            Assert.IsTrue(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(1);
        }
    }

    [TestMethod]
    [DataRow(false, DisplayName = "TorchSharp")]
    [DataRow(true, DisplayName = "ONNX Runtime")]
    public async Task ACallerThatLeavesEarlyLeavesTheBatchAndTheOthersAreUndisturbed(bool onnxRuntime)
    {
        using var batched = new Gpt2TextGenerationService(_model, onnxRuntime: Engine(onnxRuntime));
        var longOptions = new GenerationOptions { MaxNewTokens = 50, StopAtEndOfText = false };
        TextGenerationResult expected = _solo.Generate("The one that stays", longOptions);

        Task<(string, TextGenerationResult)> staying = StreamAsync(batched, "The one that stays", longOptions, 0);
        using var leaving = new CancellationTokenSource();
        TextGenerationStream left = batched.GenerateStreamingAsync("The one that leaves", longOptions, leaving.Token);
        int pieces = 0;
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (string _ in left)
            {
                if (++pieces == 2)
                    leaving.Cancel();
            }
        });
        (string text, TextGenerationResult result) = await staying.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.AreEqual(expected, result);
        Assert.AreEqual(expected.Text, text);
        Assert.IsNull(left.Result, "a cancelled stream has no result");

        // The batch goes on serving after the cancellation.
        Assert.AreEqual(expected, await batched.GenerateAsync("The one that stays", longOptions));
    }

    [TestMethod]
    [DataRow(false, DisplayName = "TorchSharp")]
    [DataRow(true, DisplayName = "ONNX Runtime")]
    public async Task TheSynchronousCallsStillWorkBesideTheBatch(bool onnxRuntime)
    {
        using var batched = new Gpt2TextGenerationService(_model, onnxRuntime: Engine(onnxRuntime));
        var options = new GenerationOptions { MaxNewTokens = 20 };
        Task<TextGenerationResult> running = batched.GenerateAsync("Beside the batch", options);
        IReadOnlyList<TextGenerationResult> batch = batched.GenerateBatch(["one", "two two"], options);
        Assert.AreEqual(_solo.Generate("Beside the batch", options), await running);
        Assert.AreEqual(_solo.Generate("two two", options), batch[1]);
    }
}
