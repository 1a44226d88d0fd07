using Gpt2.Torch;
using System.IO.Compression;
using System.Text;
using Gpt2.Torch.Model;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>The GPT-2 classifier fitted with low-rank adapters on a tiny GPT-2, in memory and through a model zip.</summary>
[TestClass]
public sealed class Gpt2TextClassifierLoRATests
{
    private static readonly Gpt2Config TinyConfig = new() { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };
    private const int Rank = 4;

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    private static MLContext _context = null!;
    private static IDataView _train = null!;
    private static IDataView _test = null!;
    private static Gpt2TextClassificationTransformer _model = null!;
    private static Dictionary<string, float[]> _initial = null!;

    private static Gpt2TextClassifier.Options Options() => new()
    {
        BaseModel = LanguageModelSource.Random(TinyConfig),
        Sentence1ColumnName = "Text",
        TrainableLayers = TrainableLayers.LoRA,
        LoRARank = Rank,
        LoRAAlpha = 8,
        LoRATargets = LoRATargets.QueryKeyValue | LoRATargets.MlpInput,
        LearningRate = 2e-3,
        MaxEpochs = 2,
        MaxLength = 48,
        Seed = 11,
        Device = CPU,
    };

    [ClassInitialize]
    public static void TrainOnce(TestContext _)
    {
        _context = new MLContext(seed: 1);
        (List<SmsSpamData.Message> train, List<SmsSpamData.Message> test) = SmsSpamData.BalancedSplit(perClass: 100, trainFraction: 0.8);
        IDataView keyed(List<SmsSpamData.Message> rows) => _context.Transforms.Conversion.MapValueToKey("Label").Fit(_context.Data.LoadFromEnumerable(train))
            .Transform(_context.Data.LoadFromEnumerable(rows));
        (_train, _test) = (keyed(train), keyed(test));

        // Fit seeds TorchSharp with Options.Seed just before creating the body, so the same seed gives its initial weights.
        random.manual_seed(Options().Seed);
        using (var initial = new Gpt2Model(TinyConfig, CPU))
            _initial = initial.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
        _model = new Gpt2TextClassifier(_context, Options()).Fit(_train);
    }

    [ClassCleanup]
    public static void Dispose() => _model.Dispose();

    [TestMethod]
    public void OnlyTargetedWeightsMoveAndEachByALowRankUpdate()
    {
        CausalLanguageModel body = _model.Model.Transformer;
        Assert.IsNull(body.LoRA, "the fitted model holds the adapters folded in");
        CollectionAssert.AreEquivalent(_initial.Keys.ToArray(), body.named_parameters().Select(p => p.name).ToArray());
        int moved = 0;
        foreach ((string name, TorchSharp.Modules.Parameter parameter) in body.named_parameters())
        {
            float[] after = parameter.data<float>().ToArray();
            bool targeted = name.EndsWith("attn.c_attn.weight") || name.EndsWith("mlp.c_fc.weight");
            if (!targeted)
            {
                CollectionAssert.AreEqual(_initial[name], after, $"{name} is frozen");
                continue;
            }
            // A full update of a [96, 32] or [128, 32] weight has rank 32; the adapter's alpha A B has rank at most 4.
            using Tensor update = tensor(after).view(parameter.shape) - tensor(_initial[name]).view(parameter.shape);
            float[] singular = linalg.svdvals(update).data<float>().ToArray();
            Assert.IsGreaterThan(0f, singular[0], $"{name} moved");
            Assert.IsTrue(singular.Skip(Rank).All(s => s < 1e-4 * singular[0]), $"{name}: singular values {string.Join(", ", singular.Take(Rank + 2))}");
            moved++;
        }
        Assert.AreEqual(2 * 2, moved);
        // rank x (in + out) for c_attn (32 -> 96) and c_fc (32 -> 128) in both blocks, plus the whole 32 -> 2 head.
        Assert.AreEqual(2 * Rank * (32 + 96 + 32 + 128) + 32 * 2 + 2, _model.TrainedParameterCount);
    }

    [TestMethod]
    public void LearnsAndTheZipHoldsThePlainModelWithTheSameScores()
    {
        MulticlassClassificationMetrics metrics = _context.MulticlassClassification.Evaluate(_model.Transform(_test));
        Assert.IsGreaterThan(0.7, metrics.MacroAccuracy, "held-out macro accuracy (chance is 50%)");

        string path = Path.Combine(Path.GetTempPath(), $"gpt2-lora-{Guid.NewGuid():N}.zip");
        try
        {
            _context.Model.Save(_model, _train.Schema, path);
            using (ZipArchive zip = ZipFile.OpenRead(path))
                foreach (ZipArchiveEntry entry in zip.Entries)
                {
                    using var reader = new StreamReader(entry.Open(), Encoding.Latin1);
                    Assert.DoesNotContain(".lora.", reader.ReadToEnd(), $"entry {entry.FullName} names no adapter tensor");
                }

            var loadContext = new MLContext(seed: 2).RegisterGpt2Components();
            ITransformer loaded = loadContext.Model.Load(path, out _);
            Prediction[] expected = Predictions(_context, _model), actual = Predictions(loadContext, loaded);
            Assert.AreEqual(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.AreEqual(expected[i].PredictedLabel, actual[i].PredictedLabel, $"row {i}");
                for (int c = 0; c < expected[i].Score.Length; c++)
                    Assert.AreEqual(expected[i].Score[c], actual[i].Score[c], 1e-4, $"row {i}, class {c}");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void BadLoRAOptionsAreRefusedAtConstruction()
    {
        Gpt2TextClassifier.Options options = Options();
        options.LoRARank = 0;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextClassifier(_context, options)).Message, "Rank");
        options = Options();
        options.LoRATargets = LoRATargets.None;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextClassifier(_context, options)).Message, "Targets");
        options.TrainableLayers = TrainableLayers.All;
        _ = new Gpt2TextClassifier(_context, options);
    }

    private static Prediction[] Predictions(MLContext context, ITransformer model) =>
        [.. context.Data.CreateEnumerable<Prediction>(model.Transform(_test), reuseRowObject: false)];
}
