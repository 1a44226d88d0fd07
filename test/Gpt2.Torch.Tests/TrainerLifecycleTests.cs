using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// The shape the three trainers share: the trainable parameters chosen in the constructor from the options, one
/// "nothing to train" refusal, and resume through <see cref="TrainingOptions.ResumeFromCheckpoint"/>.
/// </summary>
[TestClass]
public sealed class TrainerLifecycleTests : TemporaryDirectoryTest
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 100, ContextLength = 32, EmbeddingSize = 16, HeadCount = 2, LayerCount = 2, Dropout = 0.1 };

    private static void Freeze(nn.Module model)
    {
        foreach (var parameter in model.parameters())
            parameter.requires_grad = false;
    }

    private static string[] Trainable(nn.Module model) => [.. model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name)];

    [TestMethod]
    public void EveryTrainerRefusesAModelWithNothingToTrainWhenItIsCreated()
    {
        using var model = new Gpt2Model(Tiny, CPU);
        Freeze(model);
        void Refused(Action create) => StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(create).Message, "nothing to train");
        Refused(() => new LanguageModelTrainer(model, new LanguageModelTrainingOptions()));
        Refused(() => new InstructionTrainer(model, new InstructionTuningOptions { EndOfTextId = 99 }));
        using var classifier = new Gpt2SequenceClassifier(model, 2);
        Freeze(classifier);
        Refused(() => new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions()));
    }

    [TestMethod]
    public void TheOptionsTrainableLayersAreSetByTheConstructorForBothFineTuningTrainers()
    {
        using var classifier = new Gpt2SequenceClassifier(new Gpt2Model(Tiny, CPU), 2);
        using (new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions { TrainableLayers = TrainableLayers.HeadOnly }))
            CollectionAssert.AreEquivalent(new[] { "score.weight", "score.bias" }, Trainable(classifier));
        using (new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions { LoRA = new LoRAOptions { Rank = 2 } }))
        {
            Assert.AreEqual(new LoRAOptions { Rank = 2 }, classifier.Transformer.LoRA, "LoRA alone means TrainableLayers.LoRA");
            Assert.IsTrue(Trainable(classifier).All(name => name.StartsWith("score.", StringComparison.Ordinal) || Gpt2Model.IsAdapterParameter(name)));
        }

        using var model = new Gpt2Model(Tiny, CPU);
        Freeze(model);
        using (new InstructionTrainer(model, new InstructionTuningOptions { EndOfTextId = 99, TrainableLayers = TrainableLayers.All }))
            Assert.HasCount(model.parameters().Count(), Trainable(model));
        using (new InstructionTrainer(model, new InstructionTuningOptions { EndOfTextId = 99, TrainableLayers = TrainableLayers.LoRA }))
            Assert.IsTrue(Trainable(model).All(Gpt2Model.IsAdapterParameter) && Trainable(model).Length > 0, "only the adapters train");

        using var other = new Gpt2Model(Tiny, CPU);
        var error = Assert.ThrowsExactly<ArgumentException>(() => new InstructionTrainer(other, new InstructionTuningOptions { EndOfTextId = 99, TrainableLayers = TrainableLayers.LastBlock }));
        Assert.AreEqual(nameof(FineTuningOptions.TrainableLayers), error.ParamName);
        var contradiction = Assert.ThrowsExactly<ArgumentException>(() =>
            new SequenceClassificationOptions { TrainableLayers = TrainableLayers.All, LoRA = new LoRAOptions() }.Validate());
        StringAssert.StartsWith(contradiction.Message, "LoRA is set but TrainableLayers is All");
    }

    [TestMethod]
    public void AnInstructionTunerStoppedAndResumedRepeatsTheUninterruptedRunsLosses()
    {
        // 4 rows in batches of 2: 2 steps per epoch, 8 in all, with dropout.
        var options = new InstructionTuningOptions
        {
            BatchSize = 2, Epochs = 4, LearningRate = 1e-2, EvaluationInterval = 3, EndOfTextId = InstructionTrainerTests.EndOfText,
        };
        Gpt2Config config = InstructionTrainerTests.Tiny with { Dropout = 0.1 };
        Gpt2Model NewModel(int seed)
        {
            random.manual_seed(seed);
            return new Gpt2Model(config, CPU);
        }
        List<double> uninterrupted = [];
        using (var model = NewModel(1))
        using (var trainer = new InstructionTrainer(model, options))
        {
            trainer.StepCompleted += step => uninterrupted.Add(step.Loss);
            trainer.Train(InstructionTrainerTests.Sequences);
        }

        var resumable = options with { CheckpointDirectory = Directory, ResumeFromCheckpoint = true };
        List<double> losses = [];
        using (var model = NewModel(1))
        using (var trainer = new InstructionTrainer(model, resumable))
        using (var stop = new CancellationTokenSource())
        {
            trainer.StepCompleted += step =>
            {
                losses.Add(step.Loss);
                if (step.Step == 2)
                    stop.Cancel();
            };
            Assert.ThrowsExactly<OperationCanceledException>(() => trainer.Train(InstructionTrainerTests.Sequences, cancellationToken: stop.Token));
        }
        using var resumedModel = NewModel(2);
        using var resumed = new InstructionTrainer(resumedModel, resumable);
        Assert.AreEqual(3L, resumed.StepsCompleted);
        resumed.StepCompleted += step => losses.Add(step.Loss);
        resumed.Train(InstructionTrainerTests.Sequences);
        Assert.HasCount(8, uninterrupted);
        CollectionAssert.AreEqual(uninterrupted, losses);
    }
}
