using Gpt2.Torch;
using System.Diagnostics;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using Microsoft.ML.Transforms;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// What the classifier's Fit does when it cannot return a good model: divergence, cancellation and a cancelled
/// MLContext fail loudly and free the native model; validation labels keyed in another order are matched by value.
/// </summary>
[TestClass]
public sealed class Gpt2TextClassifierFailureTests
{
    private static readonly Gpt2Config TinyConfig = new() { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    private static readonly List<SmsSpamData.Message> Messages = SmsSpamData.BalancedSplit(perClass: 24, trainFraction: 1).Train;

    private static Gpt2TextClassifier.Options Options(Gpt2Config? config = null) => new()
    {
        BaseModel = LanguageModelSource.Random(config ?? TinyConfig),
        Sentence1ColumnName = "Text",
        TrainableLayers = TrainableLayers.All,
        LearningRate = 2e-3,
        MaxEpochs = 1,
        MaxLength = 32,
        BatchSize = 8,
        Device = CPU,
    };

    private static IDataView Keyed(MLContext context, IEnumerable<SmsSpamData.Message> rows,
        ValueToKeyMappingEstimator.KeyOrdinality order = ValueToKeyMappingEstimator.KeyOrdinality.ByOccurrence)
    {
        IDataView data = context.Data.LoadFromEnumerable(rows);
        return context.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: order).Fit(data).Transform(data);
    }

    private static void CancelExecution(MLContext context) =>
        // MLContext.CancelExecution is internal to ML.NET (its AutoML calls it); reached the way ML.NET does.
        typeof(MLContext).GetMethod("CancelExecution", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.Invoke(context, null);

    [TestMethod]
    public void ADivergingFitThrowsNamingTheStepTheLossAndTheLearningRate()
    {
        var context = new MLContext(seed: 1);
        Gpt2TextClassifier.Options options = Options();
        options.LearningRate = 1e30;
        options.MaxEpochs = 3;
        var progress = new List<TrainingStep>();
        options.StepCompleted = progress.Add;

        var error = Assert.ThrowsExactly<TrainingDivergedException>(() => new Gpt2TextClassifier(context, options).Fit(Keyed(context, Messages)));

        Assert.IsFalse(double.IsFinite(error.Loss));
        Assert.AreEqual(progress.Count, error.Step, "no step after the one whose loss blew up (steps are numbered from 0)");
        StringAssert.Contains(error.Message, $"step {error.Step}");
        StringAssert.Contains(error.Message, error.Loss.ToString(System.Globalization.CultureInfo.InvariantCulture));
        StringAssert.Contains(error.Message, "learning rate 1E+30");
    }

    [TestMethod]
    public void NonFiniteNumbersInTheOptionsAreRefusedWhenTheEstimatorIsCreated()
    {
        var context = new MLContext(seed: 1);
        foreach ((Action<Gpt2TextClassifier.Options> change, string option) in new (Action<Gpt2TextClassifier.Options>, string)[]
        {
            (o => o.LearningRate = double.NaN, "LearningRate"),
            (o => o.LearningRate = double.PositiveInfinity, "LearningRate"),
            (o => o.LearningRate = 0, "LearningRate"),
            (o => o.WeightDecay = double.NaN, "WeightDecay"),
            (o => { o.TrainableLayers = TrainableLayers.LoRA; o.LoRAAlpha = double.PositiveInfinity; }, "Alpha"),
        })
        {
            Gpt2TextClassifier.Options options = Options();
            change(options);
            var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextClassifier(context, options), option);
            StringAssert.Contains(error.Message, option);
            StringAssert.Contains(error.Message, "it must be a finite number");
        }
    }

    [TestMethod]
    public void FailedFitsFreeTheirNativeModels()
    {
        // 128 wide, as the leak was measured: 42 live tensors and tens of megabytes per failed fit before the fix.
        Gpt2Config config = TinyConfig with { EmbeddingSize = 128, HeadCount = 4 };
        var context = new MLContext(seed: 1);
        IDataView keyed = Keyed(context, Messages);
        void FailOnce(int attempt)
        {
            Gpt2TextClassifier.Options options = Options(config);
            if (attempt % 2 == 0)
            {
                using var cancellation = new CancellationTokenSource();
                options.CancellationToken = cancellation.Token;
                options.StepCompleted = _ => cancellation.Cancel();
                Assert.ThrowsExactly<OperationCanceledException>(() => new Gpt2TextClassifier(context, options).Fit(keyed));
            }
            else
            {
                options.LearningRate = 1e30;
                Assert.ThrowsExactly<TrainingDivergedException>(() => new Gpt2TextClassifier(context, options).Fit(keyed));
            }
        }
        (long Tensors, long Rss) Measure()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            using var process = Process.GetCurrentProcess();
            return (DisposeScopeManager.Statistics.ThreadTotalLiveCount, process.WorkingSet64);
        }

        // Creating and disposing the bare classifier leaves a few TorchSharp tensor wrappers counted as live (the weight
        // initialisation's in-place results); a failed fit may leave those, and nothing more.
        long modelOnly = Measure().Tensors;
        for (int i = 0; i < 20; i++)
        {
            random.manual_seed(1);
            using var model = new Gpt2SequenceClassifier(new Gpt2Model(config, CPU), 2);
        }
        modelOnly = Measure().Tensors - modelOnly;

        for (int attempt = 0; attempt < 4; attempt++)
            FailOnce(attempt);
        (long tensors, long rss) before = Measure();
        long peakRss = before.rss;
        for (int attempt = 0; attempt < 20; attempt++)
        {
            FailOnce(attempt);
            // Collected after each fit, so that the managed garbage of the fits does not pass for native growth.
            peakRss = Math.Max(peakRss, Measure().Rss);
        }
        (long tensors, long rss) after = Measure();

        Assert.IsLessThan(100e6, (double)(peakRss - before.rss), $"RSS grew from {before.rss / 1e6:F0} MB to {peakRss / 1e6:F0} MB (one fit's model is about 35 MB)");
        Assert.AreEqual(modelOnly, after.tensors - before.tensors, "live TorchSharp tensors after 20 more failed fits, beyond what 20 bare classifiers leave");
    }

    [TestMethod]
    public void ValidationLabelsKeyedInAnotherOrderAreMatchedByValue()
    {
        var context = new MLContext(seed: 1);
        List<SmsSpamData.Message> validationRows = [.. Messages.Where(m => m.Label == "spam").Take(12), .. Messages.Where(m => m.Label == "ham").Take(4)];
        IDataView train = Keyed(context, Messages, ValueToKeyMappingEstimator.KeyOrdinality.ByValue); // ham = 1, spam = 2
        IDataView sharedMapping = context.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Fit(context.Data.LoadFromEnumerable(Messages)).Transform(context.Data.LoadFromEnumerable(validationRows));
        IDataView ownMapping = Keyed(context, validationRows); // spam = 1, ham = 2
        Assert.AreEqual("spam", KeyValues(ownMapping)[0], "the test needs the validation keys in the other order");
        Assert.AreEqual("ham", KeyValues(train)[0]);

        TrainingEvaluation Fit(IDataView validation)
        {
            Gpt2TextClassifier.Options options = Options();
            options.MaxEpochs = 2;
            options.ValidationSet = validation;
            var evaluations = new List<TrainingEvaluation>();
            options.Evaluated = evaluations.Add;
            using Gpt2TextClassificationTransformer model = new Gpt2TextClassifier(new MLContext(seed: 1), options).Fit(train);
            return evaluations[^1];
        }
        TrainingEvaluation expected = Fit(sharedMapping), actual = Fit(ownMapping);

        Assert.AreEqual(expected.Metrics[TrainingMetrics.ValidationAccuracy], actual.Metrics[TrainingMetrics.ValidationAccuracy], 1e-12);
        Assert.AreEqual(expected.ValidationLoss, actual.ValidationLoss, 1e-6);
    }

    [TestMethod]
    public void ValidationLabelsTrainingNeverSawAreRefusedByName()
    {
        var context = new MLContext(seed: 1);
        IDataView train = Keyed(context, Messages);
        IDataView validation = Keyed(context, [new SmsSpamData.Message { Label = "phishing", Text = "Click here" }, new SmsSpamData.Message { Label = "ham", Text = "Hi" }]);
        Gpt2TextClassifier.Options options = Options();
        options.ValidationSet = validation;

        var error = Assert.ThrowsExactly<ArgumentException>(() => new Gpt2TextClassifier(context, options).Fit(train));

        StringAssert.Contains(error.Message, "'phishing'");
        StringAssert.Contains(error.Message, "MapValueToKey transformer fitted on the training data");
    }

    private static Gpt2TextClassifier Estimator(MLContext context, Gpt2TextClassifier.Options options, bool throughTheCatalog) =>
        throughTheCatalog ? context.MulticlassClassification.Trainers.Gpt2(options) : new Gpt2TextClassifier(context, options);

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AFitInACancelledMLContextSaysANewContextIsNeeded(bool throughTheCatalog)
    {
        var context = new MLContext(seed: 1);
        IDataView keyed = Keyed(context, Messages);
        Gpt2TextClassifier.Options options = Options();
        options.MaxEpochs = 3;
        int steps = 0;
        options.StepCompleted = _ => { steps++; CancelExecution(context); };

        var during = Assert.ThrowsExactly<OperationCanceledException>(() => Estimator(context, options, throughTheCatalog).Fit(keyed));
        Assert.AreEqual(1, steps, "the step after the cancellation does not run");
        options.StepCompleted = null;
        var later = Assert.ThrowsExactly<OperationCanceledException>(() => Estimator(context, options, throughTheCatalog).Fit(keyed));

        foreach (OperationCanceledException error in new[] { during, later })
        {
            StringAssert.Contains(error.Message, "MLContext was cancelled");
            StringAssert.Contains(error.Message, "new MLContext");
        }
    }

    private static string[] KeyValues(IDataView keyed)
    {
        VBuffer<ReadOnlyMemory<char>> values = default;
        keyed.Schema["Label"].GetKeyValues(ref values);
        return [.. values.DenseValues().Select(v => v.ToString())];
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AContextThatAsksForAMissingGpuFailsClearlyOrFallsBackToTheCpu(bool throughTheCatalog)
    {
        var context = new MLContext(seed: 1);
        IDataView keyed = Keyed(context, Messages);
        Gpt2TextClassifier.Options options = Options();
        options.Device = null;   // the context chooses
        Gpt2TextClassifier estimator = Estimator(context, options, throughTheCatalog);
        // Set after the estimator was made: the context's settings count as they are when Fit loads the model.
        int missingGpu = cuda.is_available() ? (int)cuda.device_count() : 0;
        context.GpuDeviceId = missingGpu;
        context.FallbackToCpu = false;

        var error = Assert.ThrowsExactly<InvalidOperationException>(() => estimator.Fit(keyed));
        StringAssert.Contains(error.Message, $"GpuDeviceId is {missingGpu}");
        StringAssert.Contains(error.Message, "FallbackToCpu");

        context.FallbackToCpu = true;
        using Gpt2TextClassificationTransformer model = estimator.Fit(keyed);
        Assert.AreEqual(DeviceType.CPU, model.Model.Transformer.Device.type);
    }
}
