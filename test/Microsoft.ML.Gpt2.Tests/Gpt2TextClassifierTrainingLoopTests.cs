using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// What the classifier gains from the one training loop through its options: the learning-rate schedule, checkpoints a
/// second fit resumes from exactly, and bfloat16 training that still learns.
/// </summary>
[TestClass]
public sealed class Gpt2TextClassifierTrainingLoopTests
{
    // Dropout on: a resumed fit must restore the random state as well as the weights and the optimizer.
    private static readonly Gpt2Config TinyConfig = new() { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0.1 };

    private static readonly List<SmsSpamData.Message> Messages = SmsSpamData.BalancedSplit(perClass: 24, trainFraction: 1).Train;

    public TestContext TestContext { get; set; } = null!;

    private static Gpt2TextClassifier.Options Options() => new()
    {
        BaseModel = LanguageModelSource.Random(TinyConfig),
        Sentence1ColumnName = "Text",
        TrainableLayers = TrainableLayers.All,
        LearningRate = 2e-3,
        MaxEpochs = 2,
        MaxLength = 32,
        BatchSize = 4,
        GradientAccumulationSteps = 2,
        MaxGradientNorm = 1.0,
        WarmupSteps = 3,
        CosineDecay = true,
        Device = CPU,
    };

    private static IDataView Keyed(MLContext context)
    {
        IDataView data = context.Data.LoadFromEnumerable(Messages);
        return context.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
    }

    private static Dictionary<string, float[]> Weights(Gpt2TextClassificationTransformer model) =>
        model.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());

    [TestMethod]
    public void TheOptionsScheduleAccumulationAndClippingReachTheLoop()
    {
        var context = new MLContext(seed: 1);
        Gpt2TextClassifier.Options options = Options();
        var steps = new List<TrainingStep>();
        options.StepCompleted = steps.Add;
        using Gpt2TextClassificationTransformer model = new Gpt2TextClassifier(context, options).Fit(Keyed(context));

        // 48 rows in batches of 4, 2 batches a step: 6 steps an epoch, 12 in all; 3 warmup steps, then a cosine to 0 at step 12.
        Assert.HasCount(12, steps);
        Assert.IsTrue(steps.All(s => s.GradientNorm is > 0), "clipping is on, so each step reports its gradient norm");
        Assert.AreEqual(Messages.Count * 2 / 8 * 8, steps.Count * 8, "each step takes 8 rows");
        double[] expected = [.. Enumerable.Range(0, 12).Select(s => s < 3 ? 2e-3 * (s + 1) / 3 : 2e-3 * 0.5 * (1 + Math.Cos(Math.PI * (s - 3) / 9)))];
        for (int s = 0; s < 12; s++)
            Assert.AreEqual(expected[s], steps[s].LearningRate, 1e-15, $"step {s}");
    }

    [TestMethod]
    public void AFitStoppedMidwayAndFittedAgainWithResumeEndsWithTheUninterruptedFitsWeights()
    {
        Dictionary<string, float[]> uninterrupted;
        var context = new MLContext(seed: 1);
        using (Gpt2TextClassificationTransformer model = new Gpt2TextClassifier(context, Options()).Fit(Keyed(context)))
            uninterrupted = Weights(model);

        string directory = Path.Combine(TestContext.TestRunResultsDirectory ?? Path.GetTempPath(), $"classifier-checkpoints-{Guid.NewGuid():N}");
        try
        {
            Gpt2TextClassifier.Options options = Options();
            options.CheckpointDirectory = directory;
            options.ResumeFromCheckpoint = true;
            using (var stop = new CancellationTokenSource())
            {
                options.CancellationToken = stop.Token;
                options.StepCompleted = step => { if (step.Step == 4) stop.Cancel(); };
                Assert.ThrowsExactly<OperationCanceledException>(() => new Gpt2TextClassifier(context, options).Fit(Keyed(context)));
            }
            Assert.AreEqual("step-000005", File.ReadAllText(Path.Combine(directory, TrainingCheckpoint.LatestFileName)).Trim());

            random.manual_seed(77); // whatever ran in between must not matter
            options.CancellationToken = default;
            var resumedSteps = new List<long>();
            options.StepCompleted = step => resumedSteps.Add(step.Step);
            var fresh = new MLContext(seed: 1);
            using Gpt2TextClassificationTransformer resumed = new Gpt2TextClassifier(fresh, options).Fit(Keyed(fresh));

            CollectionAssert.AreEqual(Enumerable.Range(5, 7).Select(s => (long)s).ToArray(), resumedSteps.ToArray(), "the second fit takes only the steps left");
            Dictionary<string, float[]> weights = Weights(resumed);
            foreach ((string name, float[] expected) in uninterrupted)
                CollectionAssert.AreEqual(expected, weights[name], $"{name} differs from the uninterrupted fit's");
        }
        finally
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void BFloat16FitReachesTheFloat32AccuracyBandAndGivesAFloat32Model()
    {
        var context = new MLContext(seed: 1);
        (List<SmsSpamData.Message> train, List<SmsSpamData.Message> test) = SmsSpamData.BalancedSplit(perClass: 250, trainFraction: 0.8);
        IDataView trainView = context.Data.LoadFromEnumerable(train), testView = context.Data.LoadFromEnumerable(test);
        // Gpt2TextClassifierTests' float32 fit, in bfloat16.
        var options = new Gpt2TextClassifier.Options
        {
            BaseModel = LanguageModelSource.Random(TinyConfig with { Dropout = 0 }),
            Sentence1ColumnName = "Text",
            TrainableLayers = TrainableLayers.All,
            LearningRate = 2e-3,
            MaxEpochs = 4,
            MaxLength = 64,
            Device = CPU,
            Precision = Precision.BFloat16,
        };
        ITransformer model = context.Transforms.Conversion.MapValueToKey("Label")
            .Append(context.MulticlassClassification.Trainers.Gpt2(options))
            .Fit(trainView);

        var classifier = ((IEnumerable<ITransformer>)model).OfType<Gpt2TextClassificationTransformer>().Single();
        Assert.IsTrue(classifier.Model.parameters().All(p => p.dtype == ScalarType.Float32), "the fitted model is float32");
        var metrics = context.MulticlassClassification.Evaluate(model.Transform(testView));
        Assert.IsTrue(metrics.MacroAccuracy > 0.85, $"held-out macro accuracy {metrics.MacroAccuracy:P1} (float32 passes the same bound)");
        ((IDisposable)classifier).Dispose();
    }
}
