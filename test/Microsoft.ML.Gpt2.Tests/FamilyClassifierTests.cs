using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tests;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// The ML.NET classifier fine-tuned from a Llama-family model folder with its own tokenizer (<see cref="TinyFamilyModel"/>)
/// on SMS spam, judged by ML.NET's evaluator, and its zip (the tokenizer inside) loaded in a fresh context; which weights each <see cref="TrainableLayers"/> choice moves, by name.
/// </summary>
[TestClass]
public sealed class FamilyClassifierTests
{
    private static string _folder = null!;
    private static MLContext _context = null!;
    private static IDataView _train = null!;
    private static IDataView _test = null!;
    private static Dictionary<string, float[]> _initial = null!;

    [ClassInitialize]
    public static void Prepare(TestContext _)
    {
        _folder = TinyFamilyModel.Write(Path.Combine(Path.GetTempPath(), "gpt2-family-ml-" + Guid.NewGuid().ToString("N")));
        using (CausalLanguageModel model = LanguageModelSource.Pretrained(_folder).Load(CPU))
            _initial = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
        _context = new MLContext(seed: 1);
        (List<SmsSpamData.Message> train, List<SmsSpamData.Message> test) = SmsSpamData.BalancedSplit(perClass: 150, trainFraction: 0.8);
        var labels = _context.Transforms.Conversion.MapValueToKey("Label").Fit(_context.Data.LoadFromEnumerable(train));
        _train = labels.Transform(_context.Data.LoadFromEnumerable(train));
        _test = labels.Transform(_context.Data.LoadFromEnumerable(test));
    }

    [ClassCleanup]
    public static void Delete() => Directory.Delete(_folder, recursive: true);

    private static Gpt2TextClassifier.Options Options(TrainableLayers layers, int epochs) => new()
    {
        BaseModel = LanguageModelSource.Pretrained(_folder),
        Sentence1ColumnName = "Text",
        TrainableLayers = layers,
        LoRARank = 4,
        LoRAAlpha = 8,
        LearningRate = 3e-3,
        MaxEpochs = epochs,
        MaxLength = 64,
        Seed = 5,
        Device = CPU,
    };

    // The names of the model's weights that training changed.
    private static string[] Moved(Gpt2TextClassificationTransformer fitted) =>
        [.. fitted.Model.Transformer.named_parameters().Where(p => !_initial[p.name].SequenceEqual(p.parameter.data<float>().ToArray())).Select(p => p.name).Order()];

    [TestMethod]
    public void FineTuningTheWholeModelBeatsTheMajorityClassOnHeldOutMessagesAndItsZipPredictsTheSame()
    {
        using Gpt2TextClassificationTransformer fitted = _context.MulticlassClassification.Trainers.Gpt2(Options(TrainableLayers.All, epochs: 3)).Fit(_train);
        Assert.IsInstanceOfType<LlamaModel>(fitted.Model.Transformer);
        Assert.AreEqual(TinyFamilyModel.VocabSize, fitted.Tokenizer.VocabSize, "the rows were read with the folder's tokenizer");

        MulticlassClassificationMetrics metrics = _context.MulticlassClassification.Evaluate(fitted.Transform(_test));
        // The test rows are balanced: always answering one class scores 50% accuracy and 50% macro accuracy.
        uint[] labels = [.. _test.GetColumn<uint>("Label")];
        double majority = labels.GroupBy(l => l).Max(g => g.Count()) / (double)labels.Length;
        Assert.IsTrue(metrics.MicroAccuracy > majority + 0.2, $"held-out accuracy {metrics.MicroAccuracy:P1}, majority class {majority:P1}");
        Console.WriteLine($"accuracy {metrics.MicroAccuracy:P1}, macro {metrics.MacroAccuracy:P1}, majority {majority:P1}");
        Assert.IsTrue(metrics.MacroAccuracy > 0.7, $"held-out macro accuracy {metrics.MacroAccuracy:P1}");
        Assert.IsTrue(Moved(fitted).Length == _initial.Count, "every weight trains");

        // The zip carries the folder's tokenizer, loads in a fresh context as ML.NET's own transformers and predicts the same.
        string path = Path.Combine(Path.GetTempPath(), $"family-classifier-{Guid.NewGuid():N}.zip");
        try
        {
            _context.Model.Save(fitted, _train.Schema, path);
            var loadContext = new MLContext(seed: 2);
            ITransformer loaded = loadContext.Model.Load(path, out DataViewSchema inputSchema);
            Assert.IsNotNull(inputSchema.GetColumnOrNull("Text"));
            FamilyZipTests.AssertOnlyMLNetTransformers(loaded);

            Prediction[] memory = Predictions(_context, fitted), saved = Predictions(loadContext, loaded);
            Assert.HasCount(memory.Length, saved);
            for (int i = 0; i < memory.Length; i++)
            {
                Assert.AreEqual(memory[i].PredictedLabel, saved[i].PredictedLabel, $"row {i}");
                Assert.HasCount(2, saved[i].Score);
                for (int c = 0; c < memory[i].Score.Length; c++)
                    Assert.AreEqual(memory[i].Score[c], saved[i].Score[c], 1e-4, $"row {i}, class {c}");
            }
            Assert.AreEqual(metrics.MacroAccuracy, loadContext.MulticlassClassification.Evaluate(loaded.Transform(_test)).MacroAccuracy, 1e-9);

            var engine = loadContext.Model.CreatePredictionEngine<TextRow, Prediction>(loaded);
            string[] texts = [.. _test.GetColumn<string>("Text")];
            foreach (int row in new[] { 0, 7, 31 })
            {
                Prediction one = engine.Predict(new TextRow { Text = texts[row] });
                Assert.AreEqual(memory[row].PredictedLabel, one.PredictedLabel, $"row {row}");
                Assert.AreEqual(memory[row].Score[1], one.Score[1], 1e-4, $"row {row}");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }

    private sealed class Prediction
    {
        public uint PredictedLabel { get; set; }
        public float[] Score { get; set; } = [];
    }

    private static Prediction[] Predictions(MLContext context, ITransformer model) =>
        [.. context.Data.CreateEnumerable<Prediction>(model.Transform(_test), reuseRowObject: false)];

    [TestMethod]
    public void LastBlockTrainsOnlyTheLastDecoderLayerAndTheFinalNorm()
    {
        using Gpt2TextClassificationTransformer fitted = _context.MulticlassClassification.Trainers.Gpt2(Options(TrainableLayers.LastBlock, epochs: 1)).Fit(_train);
        string last = $"model.layers.{TinyFamilyModel.Config.LayerCount - 1}.";
        string[] expected = [.. _initial.Keys.Where(n => n.StartsWith(last, StringComparison.Ordinal) || n == "model.norm.weight").Order()];
        Assert.AreEqual(10, expected.Length, "q, k, v, o, gate, up, down, the layer's two norms and the final norm");
        CollectionAssert.AreEqual(expected, Moved(fitted));
    }

    [TestMethod]
    public void LoRATrainsOnlyTheAdaptersFoldedIntoTheTargetedProjections()
    {
        Gpt2TextClassifier.Options options = Options(TrainableLayers.LoRA, epochs: 1);
        options.LoRATargets = LoRATargets.QueryKeyValue | LoRATargets.MlpOutput;
        using Gpt2TextClassificationTransformer fitted = _context.MulticlassClassification.Trainers.Gpt2(options).Fit(_train);
        Assert.IsNull(fitted.Model.Transformer.LoRA, "the adapters are folded in");
        string[] expected = [.. _initial.Keys.Where(n => n.EndsWith("q_proj.weight") || n.EndsWith("k_proj.weight") || n.EndsWith("v_proj.weight") || n.EndsWith("down_proj.weight")).Order()];
        Assert.AreEqual(8, expected.Length);
        CollectionAssert.AreEqual(expected, Moved(fitted));
        Assert.IsTrue(fitted.TrainedParameterCount < _initial.Values.Sum(v => v.Length) / 4, $"{fitted.TrainedParameterCount} trained parameters: adapters and head only");
    }
}
