using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Onnx;
using Microsoft.ML.Gpt2.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// ML.NET's <see cref="Gpt2GenerationOptions"/> holding the one <see cref="GenerationOptions"/> record: its errors name
/// the path the user set, and every option a model zip (ONNX Runtime's GreedySearch or Sampling) cannot carry is refused
/// at save by that name, decided in one place (<see cref="OnnxGeneratorSupport"/>), while the values that change nothing
/// still save.
/// </summary>
[TestClass]
public sealed class GenerationOptionsSaveTests
{
    private static readonly string[] Prompts = ["Every effort moves you", "The quick brown fox"];

    private static IDataView Data(MLContext mlContext) =>
        mlContext.Data.LoadFromEnumerable(Prompts.Select(prompt => new { Prompt = prompt }));

    private static Gpt2TextGenerator.Options Options(GenerationOptions sampling) => new()
    {
        BaseModel = LanguageModelSource.Random(Gpt2TextGeneratorTests.TinyConfig),
        Generation = { Sampling = sampling, BatchSize = 2 },
        Device = CPU,
    };

    public static IEnumerable<object[]> Unsaveable() =>
    [
        ["TopK is 5", new GenerationOptions { MaxNewTokens = 4, Temperature = 1, TopK = 5 }],
        ["MinP is 0.1", new GenerationOptions { MaxNewTokens = 4, Temperature = 1, MinP = 0.1 }],
        ["RepetitionPenalty is 1.3", new GenerationOptions { MaxNewTokens = 4, RepetitionPenalty = 1.3 }],
        ["FrequencyPenalty is 0.5", new GenerationOptions { MaxNewTokens = 4, FrequencyPenalty = 0.5 }],
        ["PresencePenalty is -1", new GenerationOptions { MaxNewTokens = 4, PresencePenalty = -1 }],
        ["LogitBias is set (11: 100)", new GenerationOptions { MaxNewTokens = 4, LogitBias = new Dictionary<int, double> { [11] = 100 } }],
        ["StopStrings is set ('.')", new GenerationOptions { MaxNewTokens = 4, StopStrings = ["."] }],
        ["StopSequences is set ([13])", new GenerationOptions { MaxNewTokens = 4, StopSequences = [[13]] }],
        ["StopAtEndOfText is false", new GenerationOptions { MaxNewTokens = 4, StopAtEndOfText = false }],
        ["LogProbabilities is 2", new GenerationOptions { MaxNewTokens = 4, LogProbabilities = 2 }],
        ["Seed is 4294967296", new GenerationOptions { MaxNewTokens = 4, Temperature = 1, Seed = 1L << 32 }],
    ];

    [TestMethod]
    [DynamicData(nameof(Unsaveable))]
    public void EachOptionAZipCannotCarryIsRefusedAtSaveByItsName(string reason, GenerationOptions sampling)
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext);
        using Gpt2TextGenerationTransformer generator = new Gpt2TextGenerator(mlContext, Options(sampling)).Fit(data);

        var error = Assert.ThrowsExactly<NotSupportedException>(() => mlContext.Model.Save(generator, data.Schema, Path.Combine(Path.GetTempPath(), "never.zip")));

        StringAssert.Contains(error.Message, "Generation.Sampling." + reason);
    }

    [TestMethod]
    public void TheOneCheckNamesEveryOptionAtOnceAndLetsHarmlessValuesThrough()
    {
        var everything = new GenerationOptions
        {
            Temperature = 1, TopK = 5, MinP = 0.1, RepetitionPenalty = 1.3, FrequencyPenalty = 0.5, PresencePenalty = 0.5,
            LogitBias = new Dictionary<int, double> { [11] = 1 }, StopStrings = ["."], StopSequences = [[13]], StopAtEndOfText = false,
            LogProbabilities = 0, Seed = long.MaxValue,
        };
        string reasons = OnnxGeneratorSupport.WhyNotExportable(everything, "X.")!;
        foreach (string option in new[] { "TopK", "MinP", "RepetitionPenalty", "FrequencyPenalty", "PresencePenalty", "LogitBias", "StopStrings",
                     "StopSequences", "StopAtEndOfText", "LogProbabilities", "Seed" })
            StringAssert.Contains(reasons, $"X.{option} is", option);

        Assert.IsNull(OnnxGeneratorSupport.WhyNotExportable(new GenerationOptions()), "greedy decoding to end-of-text saves");
        Assert.IsNull(OnnxGeneratorSupport.WhyNotExportable(new GenerationOptions
        {
            TopK = 5, MinP = 0.5, Seed = long.MaxValue, RepetitionPenalty = 1, FrequencyPenalty = 0, PresencePenalty = 0,
        }), "greedy: top-k, min-p and seed cannot change the most likely token, and the neutral penalties change nothing");
        Assert.IsNull(OnnxGeneratorSupport.WhyNotExportable(new GenerationOptions { Temperature = 0.7, TopP = 0.9, Seed = int.MinValue }),
            "sampling with temperature, top-p and a 32-bit seed is ONNX Runtime's Sampling");
    }

    [TestMethod]
    public void ABadSamplingOptionIsRefusedUnderTheMLNetPathTheUserSet()
    {
        var mlContext = new MLContext(1);
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextGenerator(mlContext, Options(new GenerationOptions { TopK = 0 })));
        StringAssert.StartsWith(error.Message, "Generation.Sampling.TopK is 0; it must be at least 1");
        Assert.AreEqual("Generation.Sampling.TopK", error.ParamName);

        var empty = Assert.ThrowsExactly<ArgumentException>(() => new Gpt2TextGenerator(mlContext, Options(new GenerationOptions { StopStrings = [""] })));
        StringAssert.StartsWith(empty.Message, "Generation.Sampling.StopStrings cannot hold an empty string.");

        Gpt2TextGenerator.Options tooLong = Options(new GenerationOptions { MaxNewTokens = 64 });
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextGenerator(mlContext, tooLong).Fit(Data(mlContext))).Message,
            "Generation.Sampling.MaxNewTokens is 64");

        Gpt2TextGenerator.Options none = Options(new GenerationOptions());
        none.Generation.Sampling = null!;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentNullException>(() => new Gpt2TextGenerator(mlContext, none)).Message, "Generation.Sampling cannot be null");
    }
}
