using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// What the one <see cref="TrainingLoop"/> gives every task, seen through the classification and pretraining adapters:
/// exact resume, accumulation, the schedule, and bfloat16 training with float32 master weights.
/// </summary>
[TestClass]
public sealed class TrainingLoopTests : TemporaryDirectoryTest
{
    // Dropout on, so that resuming must restore the random state too.
    private static readonly Gpt2Config Tiny = new() { VocabSize = 100, ContextLength = 32, EmbeddingSize = 16, HeadCount = 2, LayerCount = 2, Dropout = 0.1 };

    private static Gpt2SequenceClassifier NewClassifier(Gpt2Config? config = null, int seed = 5)
    {
        random.manual_seed(seed);
        var classifier = new Gpt2SequenceClassifier(new Gpt2Model(config ?? Tiny, CPU), 2);
        classifier.SetTrainableLayers(TrainableLayers.All);
        return classifier;
    }

    private static List<ClassificationExample> Examples(int count, int seed = 3) => SeparableTokenTask.Examples(new Random(seed), count);

    private static Dictionary<string, float[]> Weights(nn.Module model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());

    [TestMethod]
    public void AClassifierStoppedAtAStepAndResumedEndsWithTheUninterruptedRunsWeightsBitForBit()
    {
        // 40 rows in batches of 4, 2 per step: 5 steps per epoch, 15 in all; warmup, cosine, clipping and dropout all on.
        var options = new SequenceClassificationOptions
        {
            BatchSize = 4, GradientAccumulationSteps = 2, Epochs = 3, LearningRate = 3e-3, WarmupSteps = 2, CosineDecay = true,
            MaxGradientNorm = 0.5, EvaluationInterval = 4, Seed = 9,
        };
        List<ClassificationExample> train = Examples(40), validation = Examples(8, seed: 4);

        Dictionary<string, float[]> uninterrupted;
        List<double> uninterruptedLosses = [];
        using (var classifier = NewClassifier())
        {
            using var trainer = new SequenceClassificationTrainer(classifier, options);
            trainer.StepCompleted += step => uninterruptedLosses.Add(step.Loss);
            trainer.Train(train, validation);
            uninterrupted = Weights(classifier);
        }
        Assert.HasCount(15, uninterruptedLosses);

        // Stop after 7 steps, inside the second epoch.
        var resumable = options with { CheckpointDirectory = Directory, ResumeFromCheckpoint = true };
        List<double> losses = [];
        using (var classifier = NewClassifier())
        using (var stop = new CancellationTokenSource())
        {
            using var trainer = new SequenceClassificationTrainer(classifier, resumable);
            trainer.StepCompleted += step =>
            {
                losses.Add(step.Loss);
                if (step.Step == 6)
                    stop.Cancel();
            };
            Assert.ThrowsExactly<OperationCanceledException>(() => trainer.Train(train, validation, stop.Token));
        }
        Assert.AreEqual("step-000007", File.ReadAllText(Path.Combine(Directory, TrainingCheckpoint.LatestFileName)));

        random.manual_seed(999); // whatever the process did in between must not matter
        // Another initialisation: the weights must come from the checkpoint.
        using var resumed = NewClassifier(seed: 6);
        using var resumedTrainer = new SequenceClassificationTrainer(resumed, resumable);
        var evaluations = new List<TrainingEvaluation>();
        resumedTrainer.StepCompleted += step => losses.Add(step.Loss);
        resumedTrainer.Evaluated += evaluations.Add;
        resumedTrainer.Train(train, validation);

        CollectionAssert.AreEqual(uninterruptedLosses, losses, "the same loss at every step");
        Dictionary<string, float[]> weights = Weights(resumed);
        foreach ((string name, float[] expected) in uninterrupted)
            CollectionAssert.AreEqual(expected, weights[name], $"{name} differs from the uninterrupted run's");
        CollectionAssert.AreEqual(new long[] { 7, 11, 14 }, evaluations.Select(e => e.Step).ToArray(), "the resumed run evaluates on the uninterrupted run's cadence");
    }

    [TestMethod]
    public void TwoMicroBatchesOfFourGiveTheGradientOfOneBatchOfEight()
    {
        Dictionary<string, Tensor> Gradients(int batchSize, int accumulation)
        {
            using var classifier = NewClassifier(Tiny with { Dropout = 0 });
            using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions
            {
                BatchSize = batchSize, GradientAccumulationSteps = accumulation, MaxSteps = 1, EvaluationInterval = 0,
            });
            trainer.Train(Examples(16));
            return classifier.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone().DetachFromDisposeScope());
        }
        Dictionary<string, Tensor> accumulated = Gradients(batchSize: 4, accumulation: 2), whole = Gradients(batchSize: 8, accumulation: 1);
        foreach ((string name, Tensor gradient) in whole)
        {
            double difference = (gradient - accumulated[name]).abs().max().item<float>();
            Assert.IsLessThanOrEqualTo(1e-6, difference, $"{name}: the gradients differ by {difference}");
        }
        Assert.IsGreaterThan(1e-3, whole["score.weight"].abs().max().item<float>(), "the gradients compared are not all zero");
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void OnCudaFloat32TrainingSetsTF32AsAskedForTheRunAndRestoresItAfter(bool allowTF32)
    {
        if (!cuda.is_available())
            Assert.Inconclusive("No CUDA device here: TF32 is a CUDA setting.");
        bool before = backends.cuda.matmul.allow_tf32;
        random.manual_seed(5);
        using var classifier = new Gpt2SequenceClassifier(new Gpt2Model(Tiny, CUDA), 2);
        using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions
        {
            BatchSize = 4, MaxSteps = 2, EvaluationInterval = 0, AllowTF32 = allowTF32,
        });
        var during = new List<bool>();
        trainer.StepCompleted += _ => during.Add(backends.cuda.matmul.allow_tf32);
        backends.cuda.matmul.allow_tf32 = !allowTF32;
        try
        {
            trainer.Train(Examples(8));
            CollectionAssert.AreEqual(new[] { allowTF32, allowTF32 }, during.ToArray());
            Assert.AreEqual(!allowTF32, backends.cuda.matmul.allow_tf32, "restored after the run");
        }
        finally
        {
            backends.cuda.matmul.allow_tf32 = before;
        }
    }

    [TestMethod]
    public void TheClassifierFollowsTheWarmupAndCosineSchedule()
    {
        using var classifier = NewClassifier();
        using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions
        {
            BatchSize = 8, Epochs = 1, LearningRate = 1e-3, WarmupSteps = 2, CosineDecay = true, MinimumLearningRate = 1e-4, EvaluationInterval = 0,
        });
        var rates = new List<double>();
        trainer.StepCompleted += step => rates.Add(step.LearningRate);
        trainer.Train(Examples(48)); // 6 steps

        // Oracle: the warmup is linear over 2 steps to the peak; the cosine from step 2 reaches the minimum at step 6.
        double Cosine(int step) => 1e-4 + (1e-3 - 1e-4) * 0.5 * (1 + Math.Cos(Math.PI * (step - 2) / 4.0));
        double[] expected = [5e-4, 1e-3, Cosine(2), Cosine(3), Cosine(4), Cosine(5)];
        Assert.HasCount(expected.Length, rates);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], rates[i], 1e-15, $"step {i}");
    }

    [TestMethod]
    public void BFloat16TrainingLearnsWithFloat32MasterWeights()
    {
        using var classifier = NewClassifier(Tiny with { Dropout = 0, LayerCount = 3, EmbeddingSize = 32 });
        using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions
        {
            LearningRate = 3e-3, Epochs = 8, EvaluationInterval = 0, Precision = Precision.BFloat16,
        });
        var dtypesDuringTraining = new HashSet<ScalarType>();
        trainer.StepCompleted += _ => dtypesDuringTraining.UnionWith(classifier.parameters().Select(p => p.dtype));
        List<ClassificationExample> test = Examples(40, seed: 8);

        trainer.Train(Examples(160));

        CollectionAssert.AreEquivalent(new[] { ScalarType.BFloat16 }, dtypesDuringTraining.ToArray(), "the forward and backward passes run in bfloat16");
        Assert.IsTrue(classifier.parameters().All(p => p.dtype == ScalarType.Float32), "the trained model is float32 again");
        (double loss, double accuracy) = trainer.Evaluate(test);
        Assert.IsTrue(accuracy >= 0.9, $"accuracy {accuracy}");
        Assert.IsTrue(loss < 0.4, $"loss {loss}");
    }

    [TestMethod]
    public void BFloat16TrainingKeepsUpdatesSmallerThanBFloat16CanHold()
    {
        // AdamW moves each weight by about the learning rate per step: 3 steps of 1e-5 move a weight of magnitude above
        // 0.01 by at most ~3e-5, less than bfloat16's spacing there (2^-13, 1.2e-4, at 0.01 to 0.016, more above).
        // Weights kept in bfloat16 would not move at all; float32 masters keep the small updates.
        using var classifier = NewClassifier(Tiny with { Dropout = 0 });
        Tensor before = classifier.HeadWeight.clone().DetachFromDisposeScope();
        using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions
        {
            LearningRate = 1e-5, WeightDecay = 0, MaxSteps = 3, EvaluationInterval = 0, Precision = Precision.BFloat16,
        });
        trainer.Train(Examples(40));

        Tensor change = (classifier.HeadWeight - before).abs();
        Tensor large = before.abs() > 0.01;
        Assert.IsGreaterThan(4L, large.sum().item<long>(), "the test needs head weights above 0.01");
        Assert.IsTrue((change.masked_select(large) > 0).all().item<bool>(), "every head weight above 0.01 moved");
        Assert.IsLessThan(4e-5, change.max().item<float>(), "and by less than bfloat16's spacing");
    }

    [TestMethod]
    public void WithALogIntervalTheLossIsReadBackOnlyThenAsTheMeanOfTheStepsSinceTheLastReport()
    {
        int[] tokens = [.. Enumerable.Range(0, 101).Select(i => new Random(11 + i).Next(50))];
        List<TrainingStep> Run(int? logInterval)
        {
            random.manual_seed(1);
            using var model = new Gpt2Model(new Gpt2Config { VocabSize = 50, ContextLength = 8, EmbeddingSize = 16, HeadCount = 2, LayerCount = 2, Dropout = 0.1 }, CPU);
            // 12 windows of 8 in batches of 2: 6 steps an epoch, 12 in all.
            var data = new NextTokenBatches(new NextTokenWindows(tokens, 8, 8), 2, shuffle: true, seed: 3);
            using var trainer = new LanguageModelTrainer(model, new LanguageModelTrainingOptions
            {
                Epochs = 2, LearningRate = 3e-3, EvaluationInterval = 0, EvaluationBatches = 1, LogInterval = logInterval,
            });
            var steps = new List<TrainingStep>();
            trainer.StepCompleted += steps.Add;
            trainer.Train(data, data);
            return steps;
        }
        List<TrainingStep> every = Run(null), sparse = Run(5);

        Assert.HasCount(12, every, "on the CPU every step reports by default");
        CollectionAssert.AreEqual(new long[] { 4, 9, 11 }, sparse.Select(s => s.Step).ToArray(), "every 5th step and the last");
        (int From, int To)[] spans = [(0, 4), (5, 9), (10, 11)];
        for (int i = 0; i < spans.Length; i++)
        {
            double mean = every.Skip(spans[i].From).Take(spans[i].To - spans[i].From + 1).Average(s => s.Loss);
            Assert.AreEqual(mean, sparse[i].Loss, 1e-5, $"report {i}: the mean of steps {spans[i].From} to {spans[i].To}");
        }
        Assert.AreEqual(every[^1].TokensSeen, sparse[^1].TokensSeen);
    }

    [TestMethod]
    public void BFloat16PretrainingLearnsAShortText()
    {
        int[] tokens = Gpt2Tokenizer.Default.Encode(File.ReadAllText(TestPaths.Data("the-verdict.txt")))[..257];
        random.manual_seed(1);
        using var model = new Gpt2Model(new Gpt2Config { ContextLength = 32, EmbeddingSize = 64, HeadCount = 2, LayerCount = 2, Dropout = 0, QkvBias = false, TieWordEmbeddings = false }, CPU);
        var train = new NextTokenBatches(new NextTokenWindows(tokens, 32, 32), batchSize: 2, shuffle: true, seed: 2);
        using var trainer = new LanguageModelTrainer(model, new LanguageModelTrainingOptions
        {
            Epochs = 40, LearningRate = 1e-3, EvaluationInterval = 1000, EvaluationBatches = 4, Precision = Precision.BFloat16,
        });
        TrainingEvaluation last = trainer.Train(train, train);
        // The same bound as float32's LanguageModelLearningTests: far below word frequencies' 6 nats.
        Assert.IsTrue(last.TrainLoss < 3.0, $"training loss {last.TrainLoss}");
        Assert.IsTrue(model.parameters().All(p => p.dtype == ScalarType.Float32), "the trained model is float32 again");
    }
}
