using Gpt2.Torch;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// Sampling draws from the distribution the model computes, in memory (TorchSharp) and from the saved zip (ONNX Runtime's
/// Sampling operator): thousands of one-token continuations of one prompt, their frequencies against the softmax of the
/// model's own logits (divided by the temperature, cut to the top-p nucleus) under a chi-square bound. A generator that
/// decoded greedily, ignored the temperature or the top-p, or drew once for every row fails it.
/// </summary>
[TestClass]
public sealed class SamplingDistributionTests
{
    private const string Prompt = "Every effort moves you";
    private const int Draws = 2000;

    private static string _folder = null!;
    private static double[] _logits = null!;

    [ClassInitialize]
    public static void MakeAPeakedModel(TestContext _)
    {
        manual_seed(11);
        using var model = new Gpt2Model(Gpt2TextGeneratorTests.TinyConfig, CPU);
        using (no_grad())
            model.state_dict()["ln_f.weight"].mul_(40);   // logits spread over a few dozen tokens instead of 50,257
        _folder = Path.Combine(Path.GetTempPath(), $"gpt2-peaked-{Guid.NewGuid():N}");
        Gpt2Checkpoint.Save(model, _folder);
        using (no_grad())
        {
            using Tensor ids = tensor(Gpt2Tokenizer.Default.Encode(Prompt).Select(id => (long)id).ToArray()).unsqueeze(0);
            using Tensor logits = model.Forward(ids);
            _logits = logits[0, -1].to(float64).data<double>().ToArray();
        }
    }

    [ClassCleanup]
    public static void DeleteModel() => Directory.Delete(_folder, recursive: true);

    [TestMethod]
    public void AtTemperatureOneTheDrawsFollowTheSoftmaxInMemoryAndFromTheZip() => CheckDistribution(temperature: 1.0, topP: null);

    [TestMethod]
    public void AtALowerTemperatureWithTopPTheDrawsFollowTheSharpenedNucleusInMemoryAndFromTheZip() => CheckDistribution(temperature: 0.7, topP: 0.8);

    private static void CheckDistribution(double temperature, double? topP)
    {
        Dictionary<string, double> expected = ExpectedByText(temperature, topP);
        var mlContext = new MLContext(seed: 1);
        IDataView data = mlContext.Data.LoadFromEnumerable(Enumerable.Range(0, Draws).Select(i => new Gpt2TextGeneratorTests.PromptRow { Id = i, Prompt = Prompt }).ToArray());
        var options = new Gpt2TextGenerator.Options
        {
            BaseModel = _folder,
            Generation = { Sampling = new() { MaxNewTokens = 1, Temperature = temperature, TopP = topP }, BatchSize = 100 },
            Device = CPU,
        };
        manual_seed(3);
        using Gpt2TextGenerationTransformer generator = new Gpt2TextGenerator(mlContext, options).Fit(data);

        AssertFollows(expected, generator.Transform(data).GetColumn<string>("GeneratedText"), "in memory");
        (MLContext loadingContext, ITransformer loaded, _) = Gpt2TextGeneratorTests.SaveAndLoad(mlContext, generator, data.Schema);
        AssertFollows(expected, loaded.Transform(data).GetColumn<string>("GeneratedText"), "from the zip");
    }

    // The oracle: softmax of the model's logits over the temperature, cut to the smallest set of most likely tokens whose
    // probabilities reach top-p, renormalised; summed over tokens by the text they decode to (the column holds text).
    private static Dictionary<string, double> ExpectedByText(double temperature, double? topP)
    {
        double max = _logits.Max();
        double[] p = [.. _logits.Select(l => Math.Exp((l - max) / temperature))];
        double sum = p.Sum();
        int[] order = [.. Enumerable.Range(0, p.Length).OrderByDescending(i => p[i])];
        var kept = new List<int>();
        double mass = 0;
        foreach (int id in order)
        {
            if (topP is double cut && mass >= cut)
                break;
            kept.Add(id);
            mass += p[id] / sum;
        }
        double keptSum = kept.Sum(id => p[id]);
        var byText = new Dictionary<string, double>();
        foreach (int id in kept)
        {
            string text = id == Gpt2Tokenizer.EndOfTextTokenId ? "" : Gpt2Tokenizer.Default.Decode([id]);
            byText[text] = byText.GetValueOrDefault(text) + p[id] / keptSum;
        }
        return byText;
    }

    private static void AssertFollows(Dictionary<string, double> expected, IEnumerable<string> draws, string where)
    {
        Dictionary<string, int> counts = draws.GroupBy(text => text).ToDictionary(g => g.Key, g => g.Count());
        Console.WriteLine(where + ": " + string.Join(" | ", counts.OrderByDescending(c => c.Value).Take(8)
            .Select(c => $"'{c.Key}' {c.Value} drawn, {expected.GetValueOrDefault(c.Key) * Draws:F0} expected")));
        Assert.AreEqual(Draws, counts.Values.Sum(), where);
        string[] outside = [.. counts.Keys.Where(text => !expected.ContainsKey(text))];
        Assert.AreEqual(0, outside.Length, $"{where}: drew tokens the distribution excludes: {string.Join(", ", outside.Select(t => $"'{t}'"))}");

        // Bins with at least 5 expected draws; the rest pooled into one.
        string[] large = [.. expected.Where(e => e.Value * Draws >= 5).Select(e => e.Key)];
        Assert.IsGreaterThan(3, large.Length, "the test distribution must have several likely tokens");
        var bins = large.Select(text => (Expected: expected[text] * Draws, Observed: (double)counts.GetValueOrDefault(text))).ToList();
        double restExpected = Draws - bins.Sum(b => b.Expected);
        if (restExpected >= 5)
            bins.Add((restExpected, Draws - bins.Sum(b => b.Observed)));
        double chiSquare = bins.Sum(b => (b.Observed - b.Expected) * (b.Observed - b.Expected) / b.Expected);
        int df = bins.Count - 1;
        // Wilson-Hilferty's approximation of the chi-square quantile at 1 - 1e-4 (z = 3.719).
        double critical = df * Math.Pow(1 - 2.0 / (9 * df) + 3.719 * Math.Sqrt(2.0 / (9 * df)), 3);
        Assert.IsLessThan(critical, chiSquare, $"{where}: chi-square {chiSquare:F1} over {df} degrees of freedom (critical {critical:F1})");
    }
}
