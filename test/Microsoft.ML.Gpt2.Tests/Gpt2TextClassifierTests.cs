using System.IO.Compression;
using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// The GPT-2 classifier in ML.NET pipelines, trained once on 400 SMS messages with a tiny GPT-2 and checked with
/// ML.NET's own evaluator, PredictionEngine, key mapping and model zips.
/// </summary>
[TestClass]
public sealed class Gpt2TextClassifierTests
{
    private static readonly Gpt2Config TinyConfig = new() { ContextLength = 128, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    private static MLContext _context = null!;
    private static IDataView _train = null!;
    private static IDataView _test = null!;
    private static ITransformer _model = null!;
    private static List<TrainingStep> _steps = null!;
    private static List<TrainingEvaluation> _evaluations = null!;

    private sealed class NoColumns;

    private sealed class Prediction
    {
        public string PredictedText { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    private static Gpt2TextClassifier.Options TinyOptions(IDataView? validation = null) => new()
    {
        BaseModel = LanguageModelSource.Random(TinyConfig),
        Sentence1ColumnName = "Text",
        TrainableLayers = TrainableLayers.All,
        LearningRate = 2e-3,
        MaxEpochs = 4,
        MaxLength = 64,
        EvaluationInterval = 20,
        ValidationSet = validation,
        Device = CPU,
    };

    [ClassInitialize]
    public static void TrainOnce(TestContext _)
    {
        _context = new MLContext(seed: 1);
        (List<SmsSpamData.Message> train, List<SmsSpamData.Message> test) = SmsSpamData.BalancedSplit(perClass: 250, trainFraction: 0.8);
        _train = _context.Data.LoadFromEnumerable(train);
        _test = _context.Data.LoadFromEnumerable(test);
        var labelMap = _context.Transforms.Conversion.MapValueToKey("Label").Fit(_train);
        (_steps, _evaluations) = ([], []);
        Gpt2TextClassifier.Options options = TinyOptions(labelMap.Transform(_test));
        options.StepCompleted = _steps.Add;
        options.Evaluated = _evaluations.Add;
        _model = _context.Transforms.Conversion.MapValueToKey("Label")
            .Append(_context.MulticlassClassification.Trainers.Gpt2(options))
            .Append(_context.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"))
            .Fit(_train);
    }

    [TestMethod]
    public void TrainingLiftsHeldOutAccuracyFarAboveChance()
    {
        MulticlassClassificationMetrics metrics = _context.MulticlassClassification.Evaluate(_model.Transform(_test));
        Assert.IsTrue(metrics.MacroAccuracy > 0.85, $"held-out macro accuracy {metrics.MacroAccuracy:P1} (chance is 50%)");
        Assert.IsTrue(metrics.LogLoss < 0.5, $"log-loss {metrics.LogLoss}");
        Assert.AreEqual(2, metrics.ConfusionMatrix.NumberOfClasses);
    }

    [TestMethod]
    public void ProgressReportsEveryStepAndTheEvaluations()
    {
        long steps = _steps[^1].TotalSteps;
        Assert.AreEqual(4 * (400 / 8), steps);
        // Steps are numbered from 0 (the book's global_step); on the CPU every step reports.
        CollectionAssert.AreEqual(Enumerable.Range(0, (int)steps).Select(s => (long)s).ToArray(), _steps.Select(p => p.Step).ToArray());
        Assert.IsTrue(_steps.All(s => s.TokensPerSecond > 0 && s.Elapsed > TimeSpan.Zero), "every step says how fast and how long");
        Assert.AreEqual(TimeSpan.Zero, _steps[^1].Remaining);
        TrainingEvaluation[] evaluations = [.. _evaluations];
        Assert.AreEqual(steps / 20, evaluations.Length);
        CollectionAssert.AreEqual(Enumerable.Range(1, (int)steps / 20).Select(i => 20L * i - 1).ToArray(), evaluations.Select(e => e.Step).ToArray());
        double lastAccuracy = evaluations[^1].Metrics[TrainingMetrics.ValidationAccuracy];
        Assert.IsTrue(lastAccuracy > 0.85, $"last validation accuracy {lastAccuracy}");
        Assert.IsTrue(evaluations[^1].Metrics.ContainsKey(TrainingMetrics.TrainAccuracy));
        Assert.IsTrue(evaluations[^1].TrainLoss < evaluations[0].TrainLoss, "training loss falls");
    }

    [TestMethod]
    public void PredictionEngineMapsTheKeyBackToTheLabelText()
    {
        var engine = _context.Model.CreatePredictionEngine<SmsSpamData.Message, Prediction>(_model);
        List<SmsSpamData.Message> test = [.. _context.Data.CreateEnumerable<SmsSpamData.Message>(_test, reuseRowObject: false)];
        int correct = test.Count(m => engine.Predict(m).PredictedText == m.Label);
        Assert.IsTrue(correct > 0.85 * test.Count, $"{correct} of {test.Count}");
        Prediction one = engine.Predict(test[0]);
        Assert.AreEqual(2, one.Score.Length);
        Assert.AreEqual(1.0, one.Score.Sum(), 1e-5);
    }

    [TestMethod]
    public void ZipRoundTripPredictsTheSameClassesAndScores()
    {
        string path = Path.Combine(Path.GetTempPath(), $"gpt2-classifier-{Guid.NewGuid():N}.zip");
        try
        {
            _context.Model.Save(_model, _train.Schema, path);
            var loadContext = new MLContext(seed: 2);
            ITransformer loaded = loadContext.Model.Load(path, out DataViewSchema inputSchema);
            Assert.IsNotNull(inputSchema.GetColumnOrNull("Text"));

            Prediction[] expected = Predictions(_context, _model);
            Prediction[] actual = Predictions(loadContext, loaded);
            Assert.AreEqual(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.AreEqual(expected[i].PredictedText, actual[i].PredictedText, $"row {i}");
                for (int c = 0; c < expected[i].Score.Length; c++)
                    Assert.AreEqual(expected[i].Score[c], actual[i].Score[c], 1e-4, $"row {i}, class {c}");
            }

            MulticlassClassificationMetrics metrics = loadContext.MulticlassClassification.Evaluate(loaded.Transform(_test));
            MulticlassClassificationMetrics original = _context.MulticlassClassification.Evaluate(_model.Transform(_test));
            Assert.AreEqual(original.MacroAccuracy, metrics.MacroAccuracy, 1e-9);

            var engine = loadContext.Model.CreatePredictionEngine<SmsSpamData.Message, Prediction>(loaded);
            Assert.AreEqual(expected[0].PredictedText, engine.Predict(new SmsSpamData.Message { Text = Text(0) }).PredictedText);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void OutputSchemaIsKnownBeforeFitting()
    {
        var estimator = _context.Transforms.Conversion.MapValueToKey("Label").Append(_context.MulticlassClassification.Trainers.Gpt2(TinyOptions()));
        // ML.NET keeps SchemaShape.Create internal; a mapping from no columns to the message's columns gives the input shape.
        SchemaShape input = _context.Transforms.CustomMapping<NoColumns, SmsSpamData.Message>((_, _) => { }, contractName: null)
            .GetOutputSchema(new SchemaShape([]));
        SchemaShape shape = estimator.GetOutputSchema(input);
        SchemaShape.Column score = shape.Single(c => c.Name == "Score");
        Assert.AreEqual(SchemaShape.Column.VectorKind.Vector, score.Kind);
        Assert.AreEqual(NumberDataViewType.Single, score.ItemType);
        SchemaShape.Column predicted = shape.Single(c => c.Name == "PredictedLabel");
        Assert.IsTrue(predicted.IsKey);
        Assert.IsTrue(predicted.Annotations.Any(a => a.Name == "KeyValues"), "PredictedLabel carries the label's key values");
    }

    [TestMethod]
    public void LongTextsAreTruncatedNotRejected()
    {
        var engine = _context.Model.CreatePredictionEngine<SmsSpamData.Message, Prediction>(_model);
        string longText = string.Concat(Enumerable.Repeat("Win a free prize now! Call 0800 123. ", 100));
        Prediction whole = engine.Predict(new SmsSpamData.Message { Text = longText });
        string firstTokens = Gpt2Tokenizer.Default.Decode(Gpt2Tokenizer.Default.Encode(longText)[..64]);
        Prediction cut = engine.Predict(new SmsSpamData.Message { Text = firstTokens });
        CollectionAssert.AreEqual(cut.Score, whole.Score);
    }

    [TestMethod]
    public void BadInputFailsNamingTheColumnOrValue()
    {
        IDataView keyed = _context.Transforms.Conversion.MapValueToKey("Label").Fit(_train).Transform(_train);
        Gpt2TextClassifier Estimator(Action<Gpt2TextClassifier.Options>? change = null)
        {
            Gpt2TextClassifier.Options options = TinyOptions();
            options.MaxEpochs = 1;
            change?.Invoke(options);
            return _context.MulticlassClassification.Trainers.Gpt2(options);
        }
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Estimator(o => o.Sentence1ColumnName = "Message").Fit(keyed)).Message, "'Message'");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Estimator().Fit(_train)).Message, "MapValueToKey");
        IDataView numericText = _context.Transforms.Conversion.MapValueToKey("Text", "Label").Fit(keyed).Transform(keyed);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Estimator().Fit(numericText)).Message, "Text column 'Text'");

        IDataView withEmpty = _context.Data.LoadFromEnumerable(new[] { new SmsSpamData.Message { Label = "ham", Text = "" }, new SmsSpamData.Message { Label = "spam", Text = "Win" } });
        IDataView emptyKeyed = _context.Transforms.Conversion.MapValueToKey("Label").Fit(withEmpty).Transform(withEmpty);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Estimator().Fit(emptyKeyed)).Message, "empty");

        IDataView oneClass = _context.Data.LoadFromEnumerable(new[] { new SmsSpamData.Message { Label = "ham", Text = "Hi" }, new SmsSpamData.Message { Label = "ham", Text = "Yo" } });
        IDataView oneClassKeyed = _context.Transforms.Conversion.MapValueToKey("Label").Fit(oneClass).Transform(oneClass);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Estimator().Fit(oneClassKeyed)).Message, "one class");

        IDataView unseen = _context.Data.LoadFromEnumerable(new[] { new SmsSpamData.Message { Label = "phishing", Text = "Click here" } });
        IDataView unseenKeyed = _context.Transforms.Conversion.MapValueToKey("Label").Fit(_train).Transform(unseen);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Estimator(o => o.ValidationSet = unseenKeyed).Fit(keyed)).Message, "never saw");

        var engine = _context.Model.CreatePredictionEngine<SmsSpamData.Message, Prediction>(_model);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => engine.Predict(new SmsSpamData.Message { Text = "" })).Message, "'Text'");
    }

    [TestMethod]
    public void CancellingTheMLContextStopsTraining()
    {
        // MLContext.CancelExecution is internal to ML.NET (its AutoML calls it); the test reaches it the way ML.NET does.
        var context = new MLContext(seed: 1);
        IDataView keyed = context.Transforms.Conversion.MapValueToKey("Label").Fit(_train).Transform(_train);
        Gpt2TextClassifier.Options options = TinyOptions();
        int steps = 0;
        options.StepCompleted = p =>
        {
            if (++steps == 2)
                typeof(MLContext).GetMethod("CancelExecution", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.Invoke(context, null);
        };
        Assert.ThrowsExactly<OperationCanceledException>(() => new Gpt2TextClassifier(context, options).Fit(keyed));
        Assert.AreEqual(2, steps);
    }

    [TestMethod]
    public void ALabelWithOtherClassesAtPredictionIsRefused()
    {
        IDataView threeClasses = _context.Data.LoadFromEnumerable(new[]
        {
            new SmsSpamData.Message { Label = "ham", Text = "Hi" }, new SmsSpamData.Message { Label = "spam", Text = "Win" },
            new SmsSpamData.Message { Label = "phishing", Text = "Click" },
        });
        ITransformer classifier = ((IEnumerable<ITransformer>)_model).OfType<Gpt2TextClassificationTransformer>().Single();
        IDataView keyed = _context.Transforms.Conversion.MapValueToKey("Label").Fit(threeClasses).Transform(threeClasses);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => classifier.Transform(keyed)).Message, "3 classes");
    }

    [TestMethod]
    public void CancellationStopsTraining()
    {
        IDataView keyed = _context.Transforms.Conversion.MapValueToKey("Label").Fit(_train).Transform(_train);
        using var cancellation = new CancellationTokenSource();
        Gpt2TextClassifier.Options options = TinyOptions();
        options.CancellationToken = cancellation.Token;
        int steps = 0;
        options.StepCompleted = p => { if (++steps == 3) cancellation.Cancel(); };
        Assert.ThrowsExactly<OperationCanceledException>(() => _context.MulticlassClassification.Trainers.Gpt2(options).Fit(keyed));
        Assert.AreEqual(3, steps);
    }

    [TestMethod]
    public void AZipWithInt8WeightsRunsMatMulNBitsAndScoresCloseToTheModelInMemory()
    {
        Gpt2TextClassifier.Options options = TinyOptions();
        options.MaxEpochs = 1;
        options.SavedWeightQuantization = OnnxWeightQuantization.Int8;
        ITransformer model = _context.Transforms.Conversion.MapValueToKey("Label")
            .Append(_context.MulticlassClassification.Trainers.Gpt2(options))
            .Append(_context.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"))
            .Fit(_train);
        string path = Path.Combine(Path.GetTempPath(), $"gpt2-int8-{Guid.NewGuid():N}.zip");
        try
        {
            _context.Model.Save(model, _train.Schema, path);
            using (var zip = System.IO.Compression.ZipFile.OpenRead(path))
            {
                ZipArchiveEntry onnx = zip.Entries.Single(e => e.Name == "OnnxModel");
                using var reader = new StreamReader(onnx.Open(), System.Text.Encoding.Latin1);
                StringAssert.Contains(reader.ReadToEnd(), "MatMulNBits", "the saved graph multiplies by 8-bit blocks");
            }
            var loadContext = new MLContext(seed: 2);
            ITransformer loaded = loadContext.Model.Load(path, out _);
            Prediction[] memory = Predictions(_context, model), saved = Predictions(loadContext, loaded);
            double worst = memory.Zip(saved).Max(pair => pair.First.Score.Zip(pair.Second.Score).Max(p => Math.Abs(p.First - p.Second)));
            Assert.IsLessThan(0.05, worst, "class probabilities within 0.05 of float32");
            Assert.IsGreaterThanOrEqualTo(0.97, memory.Zip(saved).Count(pair => pair.First.PredictedText == pair.Second.PredictedText) / (double)memory.Length);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string Text(int row) => _context.Data.CreateEnumerable<SmsSpamData.Message>(_test, reuseRowObject: false).ElementAt(row).Text;

    private static Prediction[] Predictions(MLContext context, ITransformer model) =>
        [.. context.Data.CreateEnumerable<Prediction>(model.Transform(_test), reuseRowObject: false)];
}
