using Gpt2.Torch.Generation;
using Gpt2.Torch.Generation.Sampling;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Each logits processor against a hand computation on logits and histories written out here, their order, and the
/// log-probabilities <see cref="TokenSampler"/> reports, against the same arithmetic done in doubles without tensors.
/// </summary>
[TestClass]
public sealed class LogitsProcessorTests
{
    private const double Tolerance = 1e-5;

    // The pipeline of these options over float64 logits and a history whose first promptLength tokens are the prompt.
    private static double[] Processed(double[] logits, int[] history, int promptLength, GenerationOptions options)
    {
        using var scope = NewDisposeScope();
        using var pipeline = LogitsProcessorPipeline.For(options);
        using var rowHistory = new RowHistory();
        rowHistory.Update(history, promptLength);
        return pipeline.Process(tensor(logits).unsqueeze(0), rowHistory).data<double>().ToArray();
    }

    private static void AssertLogits(double[] expected, double[] actual, string what)
    {
        Assert.HasCount(expected.Length, actual);
        for (int i = 0; i < expected.Length; i++)
        {
            if (double.IsNegativeInfinity(expected[i]))
                Assert.IsTrue(double.IsNegativeInfinity(actual[i]), $"{what}: token {i} is {actual[i]}, expected it filtered out");
            else
                Assert.AreEqual(expected[i], actual[i], Tolerance, $"{what}: token {i}");
        }
    }

    private static SampledToken Next(GenerationOptions options, double[] logits, int[] history, int promptLength)
    {
        using var scope = NewDisposeScope();
        using var sampler = new TokenSampler(options, CPU);
        return sampler.Next(tensor(logits).to(float32).unsqueeze(0), history, promptLength);
    }

    [TestMethod]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfTokensInThePromptOrTheOutputOnce()
    {
        // Prompt [0, 1, 0], output [2, 2]: tokens 0 and 1 occur in the prompt only, 2 in the output only, 3 to 5 nowhere.
        double[] logits = [2.0, -1.0, 0.5, 3.0, -2.0, 0.0];
        double[] expected = [2.0 / 1.5, -1.0 * 1.5, 0.5 / 1.5, 3.0, -2.0, 0.0];
        AssertLogits(expected, Processed(logits, [0, 1, 0, 2, 2], 3, new GenerationOptions { RepetitionPenalty = 1.5 }), "penalty 1.5");

        // Below 1 the penalty favours seen tokens, by the same rule.
        double[] favoured = [2.0 / 0.5, -1.0 * 0.5, 0.5 / 0.5, 3.0, -2.0, 0.0];
        AssertLogits(favoured, Processed(logits, [0, 1, 0, 2, 2], 3, new GenerationOptions { RepetitionPenalty = 0.5 }), "penalty 0.5");
    }

    [TestMethod]
    public void FrequencyAndPresencePenaltiesCountOnlyGeneratedTokens()
    {
        // Prompt [1, 3, 3]; output [3, 2, 2, 2]: token 2 generated 3 times, token 3 once, token 1 only in the prompt.
        int[] history = [1, 3, 3, 3, 2, 2, 2];
        double[] logits = [0.0, 0.0, 0.0, 0.0, 0.0];
        AssertLogits([0, 0, -3 * 0.5, -1 * 0.5, 0], Processed(logits, history, 3, new GenerationOptions { FrequencyPenalty = 0.5 }), "frequency");
        AssertLogits([0, 0, -0.25, -0.25, 0], Processed(logits, history, 3, new GenerationOptions { PresencePenalty = 0.25 }), "presence");
        AssertLogits([0, 0, -3 * 0.5 - 0.25, -1 * 0.5 - 0.25, 0],
            Processed(logits, history, 3, new GenerationOptions { FrequencyPenalty = 0.5, PresencePenalty = 0.25 }), "both");
        AssertLogits([0, 0, 3 * 1.0, 1 * 1.0, 0], Processed(logits, history, 3, new GenerationOptions { FrequencyPenalty = -1 }), "negative frequency");
        // Nothing generated yet: no penalty at all, whatever the prompt holds.
        AssertLogits(logits, Processed(logits, [1, 3, 3], 3, new GenerationOptions { FrequencyPenalty = 2, PresencePenalty = 2 }), "prompt only");
    }

    [TestMethod]
    public void LogitBiasAddsToTheNamedTokensAndAPlus100BiasWinsGreedyDecoding()
    {
        double[] logits = [1.0, 2.0, 3.0, 4.0];
        var options = new GenerationOptions { LogitBias = new Dictionary<int, double> { [0] = 100, [3] = -100 } };
        AssertLogits([101.0, 2.0, 3.0, -96.0], Processed(logits, [1], 1, options), "bias");
        Assert.AreEqual(0, Next(options, logits, [1], 1).TokenId);
        Assert.AreEqual(0, Next(options with { Temperature = 1, Seed = 5 }, logits, [1], 1).TokenId);

        var outside = new GenerationOptions { LogitBias = new Dictionary<int, double> { [4] = 1 } };
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Next(outside, logits, [1], 1));
        StringAssert.Contains(error.Message, "vocabulary of 4");
    }

    [TestMethod]
    public void MinPKeepsTokensAtLeastMinPTimesAsLikelyAsTheMostLikely()
    {
        double[] probabilities = [0.5, 0.3, 0.1, 0.06, 0.04];
        double[] logits = [.. probabilities.Select(p => Math.Log(p))];
        double minusInfinity = double.NegativeInfinity;
        // 0.15 x 0.5 = 0.075: 0.06 and 0.04 go. 0.1 x 0.5 = 0.05: 0.04 goes. 1 x 0.5: only the most likely stays.
        AssertLogits([logits[0], logits[1], logits[2], minusInfinity, minusInfinity], Processed(logits, [0], 1, new() { Temperature = 1, MinP = 0.15 }), "0.15");
        AssertLogits([logits[0], logits[1], logits[2], logits[3], minusInfinity], Processed(logits, [0], 1, new() { Temperature = 1, MinP = 0.1 }), "0.1");
        AssertLogits([logits[0], minusInfinity, minusInfinity, minusInfinity, minusInfinity], Processed(logits, [0], 1, new() { Temperature = 1, MinP = 1 }), "1");
    }

    [TestMethod]
    public void TemperatureComesBeforeTheFiltersAndTopKBeforeTopP()
    {
        double[] logits = [Math.Log(0.5), Math.Log(0.3), Math.Log(0.2)];
        double minusInfinity = double.NegativeInfinity;
        // Min-p 0.5 on the tempered distribution. At 1: [0.5, 0.3, 0.2], threshold 0.25, token 2 goes.
        // At 0.5: p^2 normalized = [0.658, 0.237, 0.105], threshold 0.329, tokens 1 and 2 go.
        // At 2: sqrt(p) normalized = [0.415, 0.322, 0.263], threshold 0.208, all stay.
        AssertLogits([logits[0], logits[1], minusInfinity], Processed(logits, [0], 1, new() { Temperature = 1, MinP = 0.5 }), "temperature 1");
        // (Temperature subtracts the largest logit, token 0's, before dividing.)
        AssertLogits([0, minusInfinity, minusInfinity], Processed(logits, [0], 1, new() { Temperature = 0.5, MinP = 0.5 }), "temperature 0.5");
        AssertLogits([0, (logits[1] - logits[0]) / 2, (logits[2] - logits[0]) / 2], Processed(logits, [0], 1, new() { Temperature = 2, MinP = 0.5 }), "temperature 2");

        // Top-k 2 then top-p 0.5: [0.4, 0.3] renormalized is [0.571, 0.429]; 0.571 already reaches 0.5, so token 1 goes
        // too. Top-p first would have kept tokens 0 and 1 (0.4 < 0.5).
        double[] four = [Math.Log(0.4), Math.Log(0.3), Math.Log(0.2), Math.Log(0.1)];
        AssertLogits([four[0], minusInfinity, minusInfinity, minusInfinity], Processed(four, [0], 1, new() { Temperature = 1, TopK = 2, TopP = 0.5 }), "top-k then top-p");
    }

    [TestMethod]
    [DataRow(1000, 8.0, 0.5, 256)]      // peaked: the 256 most likely tokens hold p, so only they are sorted
    [DataRow(1000, 8.0, 0.9, 256)]
    [DataRow(10000, 8.0, 0.5, 4096)]    // less peaked: the 4096 most likely do
    [DataRow(1000, 0.2, 0.5, 1000)]     // flat: neither, so the whole vocabulary is sorted
    [DataRow(10000, 0.2, 0.9, 10000)]
    public void TopPOverALargeVocabularyKeepsTheSameNucleusWhicheverTokensItSorts(int vocabulary, double spread, double p, int sortedTokens)
    {
        var random = new Random(23);
        double[] logits = [.. Enumerable.Range(0, vocabulary).Select(_ => (random.NextDouble() * 2 - 1) * spread)];
        double[] descending = [.. Softmax(logits).OrderDescending()];
        int holdingP = new[] { 256, 4096 }.FirstOrDefault(count => count < vocabulary && descending.Take(count).Sum() >= p, vocabulary);
        Assert.AreEqual(sortedTokens, holdingP, "the case takes the path it names");
        var options = new GenerationOptions { Temperature = 1, TopP = p };
        double[] ours = Processed(logits, [0], 1, options);
        double[] expected = HandProcessed(logits, [0], 1, options);
        CollectionAssert.AreEqual(expected.Select(double.IsFinite).ToArray(), ours.Select(double.IsFinite).ToArray());
        Assert.IsGreaterThan(1, expected.Count(double.IsFinite));
    }

    [TestMethod]
    public void DrawsFollowTheProcessedDistributionAndNeverPickAFilteredToken()
    {
        // Top-k 3 leaves [0.5, 0.3, 0.2] (the logits are their logarithms); tokens 3 and 4 are filtered out.
        double[] logits = [Math.Log(0.5), Math.Log(0.3), Math.Log(0.2), -5, -5];
        using var sampler = new TokenSampler(new GenerationOptions { Temperature = 1, TopK = 3, Seed = 9 }, CPU);
        var counts = new int[logits.Length];
        using (var scope = NewDisposeScope())
        {
            Tensor row = tensor(logits).to(float32).unsqueeze(0);
            int[] prompt = [0];
            for (int draw = 0; draw < 4000; draw++)
                counts[sampler.Next(row, prompt, 1).TokenId]++;
        }
        // Five standard deviations of a frequency over 4000 draws is at most 0.04.
        Assert.AreEqual(0.5, counts[0] / 4000.0, 0.04);
        Assert.AreEqual(0.3, counts[1] / 4000.0, 0.04);
        Assert.AreEqual(0.2, counts[2] / 4000.0, 0.04);
        Assert.AreEqual(0, counts[3] + counts[4]);
    }

    [TestMethod]
    public void ATinyTemperatureNeitherOverflowsNorGivesNaN()
    {
        // 50 / 1e-37 is beyond float32's range: dividing first would give +infinity, and the softmax NaN.
        SampledToken next = Next(new GenerationOptions { Temperature = 1e-37, Seed = 1, LogProbabilities = 2 }, [49.0, 50.0, -50.0], [0], 1);
        Assert.AreEqual(1, next.TokenId);
        Assert.AreEqual(0, next.LogProbabilities!.LogProbability, Tolerance);
        Assert.IsFalse(next.LogProbabilities.TopLogProbabilities.Any(t => double.IsNaN(t.LogProbability) || t.LogProbability > 0));
    }

    [TestMethod]
    public void RowHistoryFollowsAHistoryGrowingOneTokenAtATimeAndRebuildsAfterAnyOther()
    {
        using var scope = NewDisposeScope();
        Tensor logits = zeros(1, 500);
        using var history = new RowHistory();
        var tokens = new List<int> { 5, 5, 7 };
        void Check(string when, int promptLength)
        {
            history.Update(tokens, promptLength);
            CollectionAssert.AreEquivalent(tokens.Distinct().ToArray(), history.DistinctTokens(logits).data<long>().ToArray().Select(t => (int)t).ToArray(), when);
            float[] counts = history.OutputCounts(logits).data<float>().ToArray();
            for (int token = 0; token < 500; token++)
                Assert.AreEqual(tokens.Skip(promptLength).Count(t => t == token), counts[token], $"{when}: count of {token}");
        }
        Check("the prompt", 3);
        // 60 steps, some tokens repeated (every 7th is a 5), more distinct tokens than the device list first holds.
        for (int step = 0; step < 60; step++)
        {
            tokens.Add(step % 7 == 0 ? 5 : step * 37 % 500);
            Check($"step {step}", 3);
        }
        tokens = [1, 2, 3, 4];
        Check("another row's history", 2);
        tokens.AddRange([9, 9]);
        Check("two tokens later", 2);
    }

    [TestMethod]
    public void ThePipelineRunsInTheDocumentedOrderAndLeavesOutProcessorsThatDoNothing()
    {
        var all = new GenerationOptions
        {
            Temperature = 0.7, TopK = 40, TopP = 0.9, MinP = 0.05, RepetitionPenalty = 1.2, FrequencyPenalty = 0.5, PresencePenalty = 0.5,
            LogitBias = new Dictionary<int, double> { [3] = 2 },
        };
        Type[] penalties = [typeof(LogitBiasProcessor), typeof(RepetitionPenaltyProcessor), typeof(FrequencyPenaltyProcessor), typeof(PresencePenaltyProcessor)];
        Type[] warpers = [typeof(TemperatureProcessor), typeof(TopKProcessor), typeof(TopPProcessor), typeof(MinPProcessor)];
        using (var pipeline = LogitsProcessorPipeline.For(all))
            CollectionAssert.AreEqual(penalties.Concat(warpers).ToArray(), pipeline.Processors.Select(p => p.GetType()).ToArray());
        using (var greedy = LogitsProcessorPipeline.For(all with { Temperature = 0 }))
            CollectionAssert.AreEqual(penalties, greedy.Processors.Select(p => p.GetType()).ToArray());

        var neutral = new GenerationOptions
        {
            Temperature = 1, TopP = 1, MinP = 0, RepetitionPenalty = 1, FrequencyPenalty = 0, PresencePenalty = 0,
            LogitBias = new Dictionary<int, double> { [3] = 0 },
        };
        using (var none = LogitsProcessorPipeline.For(neutral))
            Assert.IsTrue(none.IsEmpty);
    }

    [TestMethod]
    public void OnlyGreedyRowsWithoutBiasPenaltiesOrLogProbabilitiesArePlainGreedy()
    {
        bool Plain(GenerationOptions options)
        {
            using var sampler = new TokenSampler(options, CPU);
            return sampler.IsPlainGreedy;
        }
        Assert.IsTrue(Plain(new GenerationOptions()));
        Assert.IsTrue(Plain(new GenerationOptions { TopK = 3, TopP = 0.5, MinP = 0.2, RepetitionPenalty = 1, FrequencyPenalty = 0 }));
        Assert.IsFalse(Plain(new GenerationOptions { Temperature = 0.5 }));
        Assert.IsFalse(Plain(new GenerationOptions { RepetitionPenalty = 1.1 }));
        Assert.IsFalse(Plain(new GenerationOptions { FrequencyPenalty = 0.1 }));
        Assert.IsFalse(Plain(new GenerationOptions { PresencePenalty = -0.1 }));
        Assert.IsFalse(Plain(new GenerationOptions { LogitBias = new Dictionary<int, double> { [0] = -100 } }));
        Assert.IsFalse(Plain(new GenerationOptions { LogProbabilities = 0 }));
    }

    // Logits [1.0, 2.5, 0.3, 2.0, -0.5, 1.7] after prompt [1, 4] and output [3, 3], with bias {2: +1.5}, repetition 1.25,
    // frequency 0.5, presence 0.1:
    //   bias:        [1.0, 2.5, 1.8, 2.0, -0.5, 1.7]
    //   repetition:  tokens 1, 3, 4 seen: 2.5 / 1.25 = 2.0, 2.0 / 1.25 = 1.6, -0.5 x 1.25 = -0.625
    //   frequency:   token 3 generated twice: 1.6 - 2 x 0.5 = 0.6; presence: 0.6 - 0.1 = 0.5
    private static readonly double[] StepLogits = [1.0, 2.5, 0.3, 2.0, -0.5, 1.7];
    private static readonly int[] StepHistory = [1, 4, 3, 3];
    private static readonly double[] Penalized = [1.0, 2.0, 1.8, 0.5, -0.625, 1.7];
    private static readonly GenerationOptions StepOptions = new()
    {
        RepetitionPenalty = 1.25, FrequencyPenalty = 0.5, PresencePenalty = 0.1, LogitBias = new Dictionary<int, double> { [2] = 1.5 },
    };

    private static double LogSumExp(IEnumerable<double> values) => Math.Log(values.Sum(v => Math.Exp(v)));

    [TestMethod]
    public void SampledLogProbabilitiesAreTheLogSoftmaxOfTheFullyProcessedLogits()
    {
        // Then temperature 0.8: [1.25, 2.5, 2.25, 0.625, -0.78125, 2.125]; top-k 3 keeps tokens 1, 2 and 5.
        double[] tempered = [1.25, 2.5, 2.25, 0.625, -0.78125, 2.125];
        AssertLogits(tempered, [.. Penalized.Select(l => l / 0.8)], "the hand computation itself");
        double normalizer = LogSumExp([tempered[1], tempered[2], tempered[5]]);
        var options = StepOptions with { Temperature = 0.8, TopK = 3, LogProbabilities = 5 };

        foreach (long seed in new long[] { 1, 2, 3, 4, 5, 6 })
        {
            SampledToken next = Next(options with { Seed = seed }, StepLogits, StepHistory, 2);
            GeneratedTokenLogProbability reported = next.LogProbabilities!;
            CollectionAssert.Contains(new[] { 1, 2, 5 }, next.TokenId, $"seed {seed}: only the top 3 can be drawn");
            Assert.AreEqual(next.TokenId, reported.TokenId);
            Assert.AreEqual(tempered[next.TokenId] - normalizer, reported.LogProbability, Tolerance, $"seed {seed}");
            Assert.HasCount(5, reported.TopLogProbabilities);
            CollectionAssert.AreEqual(new[] { 1, 2, 5 }, reported.TopLogProbabilities.Take(3).Select(t => t.TokenId).ToArray());
            for (int i = 0; i < 3; i++)
                Assert.AreEqual(tempered[reported.TopLogProbabilities[i].TokenId] - normalizer, reported.TopLogProbabilities[i].LogProbability, Tolerance);
            foreach (TokenLogProbability filtered in reported.TopLogProbabilities.Skip(3))
            {
                CollectionAssert.Contains(new[] { 0, 3, 4 }, filtered.TokenId);
                Assert.IsTrue(double.IsNegativeInfinity(filtered.LogProbability), $"token {filtered.TokenId} was filtered out: {filtered.LogProbability}");
            }
        }
    }

    [TestMethod]
    public void GreedyLogProbabilitiesComeAfterBiasAndPenaltiesAtTemperatureOneAndTheChoiceIsTheFirst()
    {
        // Greedy ignores top-k: the distribution is log_softmax of the penalized logits.
        double normalizer = LogSumExp(Penalized);
        SampledToken next = Next(StepOptions with { TopK = 1, LogProbabilities = 3 }, StepLogits, StepHistory, 2);
        Assert.AreEqual(1, next.TokenId, "2.0 is the largest penalized logit");
        GeneratedTokenLogProbability reported = next.LogProbabilities!;
        Assert.AreEqual(next.TokenId, reported.TopLogProbabilities[0].TokenId);
        Assert.AreEqual(Penalized[1] - normalizer, reported.LogProbability, Tolerance);
        CollectionAssert.AreEqual(new[] { 1, 2, 5 }, reported.TopLogProbabilities.Select(t => t.TokenId).ToArray());
        CollectionAssert.AreEqual(new[] { Penalized[1], Penalized[2], Penalized[5] }.Select(l => Math.Round(l - normalizer, 5)).ToArray(),
            reported.TopLogProbabilities.Select(t => Math.Round(t.LogProbability, 5)).ToArray());

        // Without penalties token 1 stays first but token 3 (2.0) is second; with a bias of -100 on token 1, token 2 wins.
        Assert.AreEqual(3, Next(new GenerationOptions { LogProbabilities = 2 }, StepLogits, StepHistory, 2).LogProbabilities!.TopLogProbabilities[1].TokenId);
        Assert.AreEqual(2, Next(StepOptions with { LogitBias = new Dictionary<int, double> { [1] = -100, [2] = 1.5 } }, StepLogits, StepHistory, 2).TokenId);

        SampledToken alone = Next(StepOptions with { LogProbabilities = 0 }, StepLogits, StepHistory, 2);
        Assert.IsEmpty(alone.LogProbabilities!.TopLogProbabilities);
        Assert.AreEqual(Penalized[1] - normalizer, alone.LogProbabilities.LogProbability, Tolerance);
    }

    // The documented pipeline in doubles, from the whole history at once: the oracle for a sampler fed step by step.
    private static double[] HandProcessed(double[] logits, IReadOnlyList<int> history, int promptLength, GenerationOptions options)
    {
        double[] x = [.. logits];
        foreach ((int token, double bias) in options.LogitBias)
            x[token] += bias;
        if (options.RepetitionPenalty is double r)
            foreach (int token in history.Distinct())
                x[token] = x[token] > 0 ? x[token] / r : x[token] * r;
        foreach (IGrouping<int, int> generated in history.Skip(promptLength).GroupBy(t => t))
            x[generated.Key] -= generated.Count() * (options.FrequencyPenalty ?? 0) + (options.PresencePenalty ?? 0);
        if (options.IsGreedy)
            return x;
        x = [.. x.Select(v => v / options.Temperature)];
        if (options.TopK is int k)
        {
            double kth = x.OrderDescending().ElementAt(k - 1);
            x = [.. x.Select(v => v < kth ? double.NegativeInfinity : v)];
        }
        if (options.TopP is double p)
        {
            double[] probabilities = Softmax(x);
            int[] order = [.. Enumerable.Range(0, x.Length).OrderByDescending(i => probabilities[i])];
            double before = 0;
            foreach (int i in order)
            {
                if (before >= p)
                    x[i] = double.NegativeInfinity;
                before += probabilities[i];
            }
        }
        if (options.MinP is double minP)
        {
            double[] probabilities = Softmax(x);
            double threshold = minP * probabilities.Max();
            x = [.. x.Select((v, i) => probabilities[i] < threshold ? double.NegativeInfinity : v)];
        }
        return x;
    }

    private static double[] Softmax(double[] x)
    {
        double max = x.Max();
        double[] e = [.. x.Select(v => Math.Exp(v - max))];
        return [.. e.Select(v => v / e.Sum())];
    }

    [TestMethod]
    public void AStepByStepSamplerAgreesWithTheWholeHistoryAtEveryStepAndAfterAHistoryItDidNotExpect()
    {
        // The same logits every step, so that only the penalties move the choice; 40 tokens, 12 steps.
        var random = new Random(17);
        double[] logits = [.. Enumerable.Range(0, 40).Select(_ => random.NextDouble() * 4 - 2)];
        var greedy = new GenerationOptions
        {
            RepetitionPenalty = 1.3, FrequencyPenalty = 0.4, PresencePenalty = 0.2, LogitBias = new Dictionary<int, double> { [7] = 1 }, LogProbabilities = 4,
        };
        foreach (GenerationOptions options in new[] { greedy, greedy with { Temperature = 0.9, TopK = 20, TopP = 0.95, MinP = 0.05, Seed = 3 } })
        {
            using var sampler = new TokenSampler(options, CPU);
            var history = new List<int> { 5, 9, 7, 5 };
            var chosen = new HashSet<int>();
            void Step(string when, int promptLength = 4)
            {
                using var scope = NewDisposeScope();
                SampledToken next = sampler.Next(tensor(logits).to(float32).unsqueeze(0), history, promptLength);
                double[] expected = HandProcessed(logits, history, promptLength, options);
                double normalizer = LogSumExp(expected.Where(double.IsFinite));
                Assert.IsTrue(double.IsFinite(expected[next.TokenId]), $"{when}: token {next.TokenId} was filtered out");
                if (options.IsGreedy)
                    Assert.AreEqual(Array.IndexOf(expected, expected.Max()), next.TokenId, when);
                Assert.AreEqual(expected[next.TokenId] - normalizer, next.LogProbabilities!.LogProbability, 1e-4, when);
                foreach (TokenLogProbability top in next.LogProbabilities.TopLogProbabilities)
                    Assert.AreEqual(expected[top.TokenId] - normalizer, top.LogProbability, 1e-4, $"{when}, alternative {top.TokenId}");
                history.Add(next.TokenId);
                chosen.Add(next.TokenId);
            }
            for (int step = 0; step < 12; step++)
                Step($"temperature {options.Temperature}, step {step}");
            if (options.IsGreedy)
                Assert.IsGreaterThan(1, chosen.Count, "the penalties move greedy decoding off its first choice");

            // A history that is not the last one plus one token (a new prompt, then one two tokens longer) is read afresh.
            history = [1, 2, 3];
            Step("a new history", promptLength: 2);
            history.AddRange([30, 31]);
            Step("two tokens later", promptLength: 2);
        }
    }
}
