using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// The history-aware processors through the decode loop (<see cref="Gpt2Generator"/>) on the tiny reference model
/// (context 32, vocabulary 1000): penalties break its repetitions, a bias forces a token, seeds reproduce samples.
/// </summary>
[TestClass]
public sealed class SamplingGenerationTests
{
    private static Gpt2Model _model = null!;
    private static Gpt2Generator _generator = null!;

    // Greedy decoding of this prompt says 413 once and then 284 nineteen times.
    private static readonly int[] Repetitive = [815, 990, 563, 411];
    private const int Repeated = 284;
    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 20 };

    [ClassInitialize]
    public static void LoadFixture(TestContext _)
    {
        _model = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        _generator = new Gpt2Generator(_model, Gpt2Tokenizer.Default);
    }

    [ClassCleanup]
    public static void Release() => _model.Dispose();

    private static int[] Generated(int[] prompt, GenerationOptions options) => _generator.Generate(prompt, options)[prompt.Length..];

    private static int MostRepeats(int[] tokens) => tokens.GroupBy(t => t).Max(g => g.Count());

    [TestMethod]
    public void PenaltiesStopGreedyDecodingRepeatingOneToken()
    {
        int[] free = Generated(Repetitive, Greedy);
        Assert.IsGreaterThanOrEqualTo(15, free.Count(t => t == Repeated), $"without penalties: {string.Join(", ", free)}");

        foreach (GenerationOptions penalized in new[]
        {
            Greedy with { RepetitionPenalty = 1.5 }, Greedy with { FrequencyPenalty = 1 }, Greedy with { PresencePenalty = 1 },
        })
        {
            int[] output = Generated(Repetitive, penalized);
            Assert.IsLessThanOrEqualTo(2, MostRepeats(output), $"{penalized}: {string.Join(", ", output)}");
            Assert.AreEqual(free[0], output[0], "the first token has no generated token to penalize, and none of the prompt's is the free choice");
        }
    }

    [TestMethod]
    public void OnlyTheRepetitionPenaltyCountsThePromptsTokens()
    {
        // After [..., 413, 284] greedy decoding goes on with 284, which is now in the prompt.
        int[] prompt = [.. Repetitive, 413, Repeated];
        Assert.AreEqual(Repeated, Generated(prompt, Greedy)[0]);
        Assert.AreEqual(Repeated, Generated(prompt, Greedy with { FrequencyPenalty = 2, PresencePenalty = 2 })[0], "frequency and presence count generated tokens only");
        Assert.AreNotEqual(Repeated, Generated(prompt, Greedy with { RepetitionPenalty = 1.5 })[0], "the repetition penalty counts the prompt too");
    }

    [TestMethod]
    public void APlus100BiasForcesATokenAndAMinus100BiasBansOne()
    {
        var forced = new Dictionary<int, double> { [7] = 100 };
        CollectionAssert.AreEqual(Enumerable.Repeat(7, 20).ToArray(), Generated(Repetitive, Greedy with { LogitBias = forced }));
        CollectionAssert.AreEqual(Enumerable.Repeat(7, 20).ToArray(), Generated(Repetitive, Greedy with { LogitBias = forced, Temperature = 1.5, Seed = 2 }));

        int[] banned = Generated(Repetitive, Greedy with { LogitBias = new Dictionary<int, double> { [Repeated] = -100 } });
        CollectionAssert.DoesNotContain(banned, Repeated);
    }

    [TestMethod]
    public void EverySampledRowIsReproducibleFromItsSeed()
    {
        var options = new GenerationOptions
        {
            MaxNewTokens = 20, Temperature = 1.2, TopK = 200, TopP = 0.95, MinP = 0.01, RepetitionPenalty = 1.2, FrequencyPenalty = 0.3,
            PresencePenalty = 0.2, LogitBias = new Dictionary<int, double> { [5] = 1 }, Seed = 11,
        };
        int[] first = Generated(Repetitive, options);
        CollectionAssert.AreEqual(first, Generated(Repetitive, options));
        CollectionAssert.AreNotEqual(first, Generated(Repetitive, options with { Seed = 12 }));
    }

    [TestMethod]
    public void EachRowOfABatchIsPenalizedByItsOwnHistory()
    {
        int[][] prompts = [Repetitive, [1, 2, 3, 4, 5, 6, 7], [Repeated]];
        var options = Greedy with { RepetitionPenalty = 1.3, FrequencyPenalty = 0.5, LogitBias = new Dictionary<int, double> { [9] = 0.5 } };
        int[][] batch = _generator.GenerateBatch(prompts, options);
        for (int row = 0; row < prompts.Length; row++)
            CollectionAssert.AreEqual(_generator.Generate(prompts[row], options), batch[row], $"row {row}");
    }
}
