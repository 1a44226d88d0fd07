using System.Globalization;
using Gpt2.Torch.Data;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// A learning rate of 1e30 blows every trainer's weights up within a step or two; each must stop with a
/// <see cref="TrainingDivergedException"/> naming the step, the loss and the learning rate, instead of training on NaN.
/// </summary>
[TestClass]
public sealed class TrainingDivergenceTests
{
    private const double AbsurdLearningRate = 1e30;

    private static readonly Gpt2Config Tiny = new() { VocabSize = 50, ContextLength = 16, EmbeddingSize = 16, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    private static void AssertNamesStepLossAndRate(TrainingDivergedException error, long stepsReported)
    {
        Assert.IsFalse(double.IsFinite(error.Loss), $"loss {error.Loss}");
        Assert.AreEqual(AbsurdLearningRate, error.LearningRate);
        // Steps are numbered from 0 (the book's global_step), so the first step not reported is number stepsReported.
        Assert.AreEqual(stepsReported, error.Step, "training stops at the first step whose loss is not finite; the steps before it were reported");
        StringAssert.Contains(error.Message, $"step {error.Step}");
        StringAssert.Contains(error.Message, error.Loss.ToString(CultureInfo.InvariantCulture));
        StringAssert.Contains(error.Message, "learning rate 1E+30");
        StringAssert.Contains(error.Message, "lower learning rate");
    }

    [TestMethod]
    public void SequenceClassificationStopsWhenTheLossIsNoLongerFinite()
    {
        random.manual_seed(1);
        using var classifier = new Gpt2SequenceClassifier(new Gpt2Model(Tiny with { VocabSize = 100 }, CPU), 2);
        classifier.SetTrainableLayers(TrainableLayers.All);
        List<ClassificationExample> train = SeparableTokenTask.Examples(new Random(3), 32);
        using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions { LearningRate = AbsurdLearningRate, Epochs = 5, BatchSize = 8 });
        var progress = new List<TrainingStep>();
        trainer.StepCompleted += progress.Add;

        var error = Assert.ThrowsExactly<TrainingDivergedException>(() => trainer.Train(train));

        Assert.IsTrue(progress.All(p => double.IsFinite(p.Loss)), "no step reports a NaN loss");
        AssertNamesStepLossAndRate(error, progress.Count);
    }

    [TestMethod]
    public void InstructionTuningStopsWhenTheLossIsNoLongerFinite()
    {
        random.manual_seed(1);
        using var model = new Gpt2Model(Tiny, CPU);
        var rng = new Random(5);
        InstructionSequence[] rows = [.. Enumerable.Range(0, 16).Select(_ => new InstructionSequence([.. Enumerable.Range(0, 10).Select(_ => rng.Next(49))], 4))];
        using var trainer = new InstructionTrainer(model, new InstructionTuningOptions { LearningRate = AbsurdLearningRate, BatchSize = 4, Epochs = 5, EndOfTextId = 49 });
        var progress = new List<TrainingStep>();
        trainer.StepCompleted += progress.Add;

        var error = Assert.ThrowsExactly<TrainingDivergedException>(() => trainer.Train(rows));

        AssertNamesStepLossAndRate(error, progress.Count);
    }

    [TestMethod]
    public void LanguageModelTrainingStopsWhenTheLossIsNoLongerFinite()
    {
        random.manual_seed(1);
        using var model = new Gpt2Model(Tiny, CPU);
        int[] tokens = [.. Enumerable.Range(0, 200).Select(i => new Random(11 + i).Next(Tiny.VocabSize))];
        var data = new NextTokenBatches(new NextTokenWindows(tokens, 16, 16), 2);
        using var trainer = new LanguageModelTrainer(model, new LanguageModelTrainingOptions { LearningRate = AbsurdLearningRate, Epochs = 5, EvaluationInterval = 0 });
        var steps = new List<TrainingStep>();
        trainer.StepCompleted += steps.Add;

        var error = Assert.ThrowsExactly<TrainingDivergedException>(() => trainer.Train(data, data));

        AssertNamesStepLossAndRate(error, steps.Count);
        Assert.AreEqual(0, trainer.Evaluations.Count, "no evaluation of a blown-up model is recorded");
    }
}
