using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>Every decoding option on the tiny reference model (context 32, vocabulary 1000).</summary>
[TestClass]
public sealed class GenerationTests
{
    private static Gpt2Model _model = null!;
    private static Gpt2Generator _generator = null!;
    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 20 };
    private static readonly int[] Prompt = [464, 318, 257, 383, 11, 290];   // ids < 1000, so GPT-2's tokenizer decodes them

    [ClassInitialize]
    public static void LoadFixture(TestContext _)
    {
        _model = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        _generator = new Gpt2Generator(_model, Gpt2Tokenizer.Default);
    }

    [ClassCleanup]
    public static void Release() => _model.Dispose();

    private static int[] Generated(int[] output, int promptLength = 6) => output[promptLength..];

    private static int[] RandomPrompt(int length, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => random.Next(1000))];
    }

    // The documented window rule, computed the slow way: a full forward pass over the window for every token.
    private static int[] GreedyReference(int[] prompt, int newTokens)
    {
        using var noGrad = no_grad();
        _model.eval();
        int context = _model.Config.ContextLength;
        var tokens = new List<int>(prompt);
        int start = Math.Max(0, tokens.Count - context);
        for (int step = 0; step < newTokens; step++)
        {
            using var scope = NewDisposeScope();
            Tensor window = tensor(tokens.Skip(start).Select(t => (long)t).ToArray(), int64).unsqueeze(0);
            tokens.Add((int)_model.Forward(window)[0, -1].argmax().item<long>());
            if (tokens.Count - start > context)
                start = tokens.Count - context / 2;
        }
        return [.. tokens];
    }

    [TestMethod]
    public void TheBooksTopKExampleKeepsPositions3And7And0()
    {
        using var scope = NewDisposeScope();
        float[] values = [4.51f, 0.89f, -1.90f, 6.75f, 1.63f, -1.62f, -1.89f, 6.28f, 1.79f];
        Tensor logits = tensor(values).unsqueeze(0);
        var options = new GenerationOptions { Temperature = 1, TopK = 3 };

        float[] filtered = TokenSampler.Filter(logits, options).data<float>().ToArray();
        for (int i = 0; i < values.Length; i++)
            Assert.AreEqual(i is 3 or 7 or 0 ? values[i] : float.NegativeInfinity, filtered[i], $"position {i}");

        // The book's topk_probas.
        float[] probabilities = TokenSampler.Probabilities(logits, options).data<float>().ToArray();
        float[] book = [0.0615f, 0, 0, 0.5775f, 0, 0, 0, 0.3610f, 0];
        for (int i = 0; i < values.Length; i++)
            Assert.AreEqual(book[i], probabilities[i], 1e-4, $"position {i}");
    }

    [TestMethod]
    [DataRow(1.0)]
    [DataRow(0.1)]
    [DataRow(5.0)]
    public void TheBooksTemperatureScalingMatchesAnIndependentSoftmax(double temperature)
    {
        using var scope = NewDisposeScope();
        double[] values = [4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79];
        double[] exponentials = [.. values.Select(v => Math.Exp(v / temperature))];
        double[] expected = [.. exponentials.Select(e => e / exponentials.Sum())];

        float[] ours = TokenSampler.Probabilities(tensor(values).unsqueeze(0), new GenerationOptions { Temperature = temperature }).data<double>()
            .ToArray().Select(p => (float)p).ToArray();

        for (int i = 0; i < values.Length; i++)
            Assert.AreEqual(expected[i], ours[i], 1e-6, $"temperature {temperature}, position {i}");
        // The book's reading of the figure: 0.1 makes "forward" (3) nearly certain, 5 flattens the distribution.
        Assert.AreEqual(temperature == 0.1, ours[3] > 0.99);
        Assert.AreEqual(temperature == 5.0, ours.Max() < 0.25);
    }

    [TestMethod]
    public void TopPKeepsTheSmallestSetReachingP()
    {
        using var scope = NewDisposeScope();
        Tensor logits = tensor(new[] { 0.5, 0.3, 0.15, 0.05 }).log().unsqueeze(0);
        double[] Kept(double p) => TokenSampler.Filter(logits, new GenerationOptions { Temperature = 1, TopP = p }).data<double>().ToArray();
        CollectionAssert.AreEqual(new[] { true, false, false, false }, Kept(0.45).Select(double.IsFinite).ToArray());
        CollectionAssert.AreEqual(new[] { true, true, false, false }, Kept(0.75).Select(double.IsFinite).ToArray());
        CollectionAssert.AreEqual(new[] { true, true, true, false }, Kept(0.85).Select(double.IsFinite).ToArray());
        CollectionAssert.AreEqual(new[] { true, true, true, true }, Kept(0.99).Select(double.IsFinite).ToArray());
    }

    [TestMethod]
    public void GreedyDecodingFollowsTheWindowRulePastTheContext()
    {
        // 6 + 50 tokens outgrow the 32-token context twice; a 40-token prompt is longer than the context from the start.
        foreach (int[] prompt in new[] { Prompt, RandomPrompt(40, 1) })
        {
            int[] expected = GreedyReference(prompt, 50);
            CollectionAssert.AreEqual(expected, _generator.Generate(prompt, Greedy with { MaxNewTokens = 50 }));
        }
    }

    [TestMethod]
    public void EachRowOfABatchEqualsItsSinglePromptResult()
    {
        int[][] prompts = [RandomPrompt(1, 2), RandomPrompt(5, 3), RandomPrompt(12, 4), RandomPrompt(31, 5), RandomPrompt(40, 6)];
        GenerationOptions options = Greedy with { MaxNewTokens = 45 };
        int[][] batch = _generator.GenerateBatch(prompts, options);
        for (int row = 0; row < prompts.Length; row++)
            CollectionAssert.AreEqual(GreedyReference(prompts[row], 45), batch[row], $"row {row}");
    }

    [TestMethod]
    public void RowsThatStopEarlyLeaveTheOtherRowsUnchanged()
    {
        int[][] prompts = [RandomPrompt(3, 7), RandomPrompt(9, 8), RandomPrompt(20, 9), RandomPrompt(2, 10)];
        // Stop tokens taken from the rows' own greedy continuations, so that rows stop at different steps.
        int[][] free = [.. prompts.Select(p => _generator.Generate(p, Greedy with { MaxNewTokens = 40 }))];
        var options = Greedy with
        {
            MaxNewTokens = 40,
            StopSequences = [[free[0][prompts[0].Length + 2]], [.. free[2].Skip(prompts[2].Length + 15).Take(2)]],
        };
        int[][] batch = _generator.GenerateBatch(prompts, options);
        for (int row = 0; row < prompts.Length; row++)
        {
            CollectionAssert.AreEqual(_generator.Generate(prompts[row], options), batch[row], $"row {row}");
            // The uncached oracle: a row that stops early is a prefix of its full greedy continuation.
            CollectionAssert.AreEqual(GreedyReference(prompts[row], 40)[..batch[row].Length], batch[row], $"row {row} against the uncached reference");
        }
        Assert.IsLessThanOrEqualTo(prompts[0].Length + 3, batch[0].Length);
        Assert.IsLessThan(free[2].Length, batch[2].Length);
    }

    [TestMethod]
    public void EndOfTextStopsAtItsFirstOccurrenceAndIsKept()
    {
        int[] free = Generated(_generator.Generate(Prompt, Greedy));
        int endOfText = free[7];
        int[] stopped = Generated(_generator.Generate(Prompt, Greedy with { StopSequences = [[endOfText]] }));
        CollectionAssert.AreEqual(free[..(Array.IndexOf(free, endOfText) + 1)], stopped);
    }

    [TestMethod]
    public void StopSequencesStopWhereTheGeneratedTokensFirstEndWithOne()
    {
        int[] free = Generated(_generator.Generate(Prompt, Greedy));
        int[] stop = free[9..11];
        int end = Enumerable.Range(stop.Length, free.Length - stop.Length + 1).First(n => free[(n - stop.Length)..n].SequenceEqual(stop));
        int[] stopped = Generated(_generator.Generate(Prompt, Greedy with { StopSequences = [[999, 998, 997], stop] }));
        CollectionAssert.AreEqual(free[..end], stopped);

        // A sequence that starts in the prompt does not stop generation.
        int[] straddling = Generated(_generator.Generate(Prompt, Greedy with { StopSequences = [[Prompt[^1], free[0]]] }));
        CollectionAssert.AreEqual(free, straddling);
    }

    [TestMethod]
    public void StopStringsMatchTheDecodedTextAcrossTokenBoundaries()
    {
        int[] free = Generated(_generator.Generate(Prompt, Greedy with { MaxNewTokens = 30 }));
        string Text(int tokens) => Gpt2Tokenizer.Default.Decode(free[..tokens]);
        // Three characters straddling a token boundary past the 5th token, away from bytes that are not whole characters.
        string text = Text(free.Length);
        int boundary = Enumerable.Range(5, free.Length - 10).Select(n => Text(n).Length)
            .First(b => b >= 2 && b + 1 < text.Length && text[b - 1] != text[b] && !text.Substring(b - 2, 3).Contains('\uFFFD'));
        string stop = text.Substring(boundary - 2, 3);
        int expected = Enumerable.Range(1, free.Length).First(n => Text(n).Contains(stop, StringComparison.Ordinal));

        int[] stopped = Generated(_generator.Generate(Prompt, Greedy with { MaxNewTokens = 30, StopStrings = ["never generated", stop] }));

        CollectionAssert.AreEqual(free[..expected], stopped);
        Assert.IsLessThan(free.Length, expected);
        // A generator given no tokenizer decodes with the family's built-in one (GPT-2's), so stop strings work the same.
        using var withBuiltInTokenizer = new Gpt2Generator(_model);
        CollectionAssert.AreEqual(stopped, Generated(withBuiltInTokenizer.Generate(Prompt, Greedy with { MaxNewTokens = 30, StopStrings = ["never generated", stop] })));
    }

    [TestMethod]
    public void MaxNewTokensBoundsTheOutput()
    {
        Assert.HasCount(Prompt.Length + 13, _generator.Generate(Prompt, Greedy with { MaxNewTokens = 13 }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _generator.Generate(Prompt, Greedy with { MaxNewTokens = 0 }));
    }

    [TestMethod]
    public void SamplingIsReproducibleWithASeed()
    {
        var options = new GenerationOptions { MaxNewTokens = 25, Temperature = 1.0, TopK = 50, Seed = 7 };
        int[] first = _generator.Generate(Prompt, options);
        CollectionAssert.AreEqual(first, _generator.Generate(Prompt, options));
        CollectionAssert.AreNotEqual(first, _generator.Generate(Prompt, options with { Seed = 8 }));
        CollectionAssert.AreNotEqual(_generator.Generate(Prompt, Greedy with { MaxNewTokens = 25 }), first);

        int[][] prompts = [Prompt, RandomPrompt(3, 11)];
        CollectionAssert.AreEqual(_generator.GenerateBatch(prompts, options)[1], _generator.GenerateBatch(prompts, options)[1]);
    }

    [TestMethod]
    public void SamplingFromOnlyTheMostLikelyTokenIsGreedy()
    {
        int[] greedy = _generator.Generate(Prompt, Greedy);
        CollectionAssert.AreEqual(greedy, _generator.Generate(Prompt, Greedy with { Temperature = 2.0, TopK = 1, Seed = 1 }));
        CollectionAssert.AreEqual(greedy, _generator.Generate(Prompt, Greedy with { Temperature = 2.0, TopP = 1e-6, Seed = 1 }));
    }

    [TestMethod]
    public void SampledTokensStayWithinTheTopK()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _model.eval();
        int[] output = _generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 15, Temperature = 3.0, TopK = 5, Seed = 3 });
        for (int n = Prompt.Length; n < output.Length; n++)
        {
            Tensor logits = _model.Forward(tensor(output[..n].Select(t => (long)t).ToArray(), int64).unsqueeze(0))[0, -1];
            long[] top5 = logits.topk(5).indexes.data<long>().ToArray();
            CollectionAssert.Contains(top5, (long)output[n], $"token {n}");
        }
    }

    [TestMethod]
    public async Task TokensAreStreamedAsTheyAreProduced()
    {
        var options = Greedy with { MaxNewTokens = 12 };
        int[] output = _generator.Generate(Prompt, options);
        var seen = new List<int>();
        _generator.Generate(Prompt, options, seen.Add);
        CollectionAssert.AreEqual(Generated(output), seen.ToArray());

        var streamed = new List<int>();
        await foreach (int token in _generator.GenerateStreamingAsync(Prompt, options))
            streamed.Add(token);
        CollectionAssert.AreEqual(Generated(output), streamed.ToArray());

        var rows = new List<(int Row, int Token)>();
        int[][] batch = _generator.GenerateBatch([Prompt, [5]], options, (row, token) => rows.Add((row, token)));
        CollectionAssert.AreEqual(batch[1][1..], rows.Where(r => r.Row == 1).Select(r => r.Token).ToArray());
    }

    [TestMethod]
    public async Task StreamingStopsWhenCancelledOrLeftEarly()
    {
        _model.train();
        int count = 0;
        await foreach (int _ in _generator.GenerateStreamingAsync(Prompt, Greedy with { MaxNewTokens = 100 }))
        {
            if (++count == 3)
                break;
        }
        Assert.IsTrue(_model.training, "the model's mode is restored once the stream is left");

        using var cancellation = new CancellationTokenSource();
        var streamed = new List<int>();
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (int token in _generator.GenerateStreamingAsync(Prompt, Greedy with { MaxNewTokens = 100 }, cancellation.Token))
            {
                streamed.Add(token);
                if (streamed.Count == 2)
                    await cancellation.CancelAsync();
            }
        });
        Assert.HasCount(2, streamed);
        _model.eval();
    }

    [TestMethod]
    public void BadRequestsAreRejectedWithTheReason()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => _generator.Generate([], Greedy)).Message, "no tokens");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => _generator.GenerateBatch([Prompt, []], Greedy)).Message, "Prompt 1");
        Assert.ThrowsExactly<ArgumentException>(() => _generator.Generate(Prompt, Greedy with { StopSequences = [[]] }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _generator.Generate(Prompt, Greedy with { TopP = 1.5 }));
        Assert.ThrowsExactly<ArgumentException>(() => TokenSampler.Probabilities(zeros(1, 4), Greedy));
    }
}
