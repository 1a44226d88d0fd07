using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// The checkpoint directory's cadence and retention: a checkpoint at every evaluation by default, the newest
/// <see cref="TrainingOptions.KeepCheckpoints"/> kept, <c>latest</c> always naming a complete one, and a write that a
/// crash cut short leaving the previous checkpoint to resume from.
/// </summary>
[TestClass]
public sealed class TrainingCheckpointTests : TemporaryDirectoryTest
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 50, ContextLength = 8, EmbeddingSize = 16, HeadCount = 2, LayerCount = 2, Dropout = 0.1 };

    // 101 tokens: 12 windows of 8, so 6 batches of 2 per epoch.
    private static readonly int[] Tokens = [.. Enumerable.Range(0, 101).Select(i => new Random(11 + i).Next(Tiny.VocabSize))];

    private static NextTokenBatches Data => new(new NextTokenWindows(Tokens, Tiny.ContextLength, Tiny.ContextLength), 2, shuffle: true, seed: 3);

    private static NextTokenBatches Validation => new(new NextTokenWindows([.. Tokens.Reverse()], 8, 8), 2);

    private static Gpt2Model NewModel(int seed = 1)
    {
        random.manual_seed(seed);
        return new Gpt2Model(Tiny, CPU);
    }

    // 9 steps (3 epochs of 3 steps of 2 batches), evaluated after steps 0, 2, 4, 6 and 8 (from 0).
    private LanguageModelTrainingOptions Options => new()
    {
        Epochs = 3, LearningRate = 3e-3, GradientAccumulationSteps = 2, EvaluationInterval = 2, EvaluationBatches = 2,
        Seed = 7, CheckpointDirectory = Directory,
    };

    private string[] CheckpointFolders() =>
        [.. System.IO.Directory.GetDirectories(Directory).Select(Path.GetFileName).Order()!];

    private string Latest() => File.ReadAllText(Path.Combine(Directory, TrainingCheckpoint.LatestFileName));

    private static void WriteState(string folder)
    {
        System.IO.Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, TrainingCheckpoint.StateFileName), "{}");
    }

    [TestMethod]
    public void ByDefaultEveryEvaluationWritesACheckpoint()
    {
        using var model = NewModel();
        using var trainer = new LanguageModelTrainer(model, Options with { KeepCheckpoints = 10 });
        List<long> evaluated = [];
        List<string> saved = [];
        trainer.Evaluated += evaluation => evaluated.Add(evaluation.Step);
        trainer.CheckpointSaved += folder => saved.Add(Path.GetFileName(folder));
        trainer.Train(Data, Validation);

        CollectionAssert.AreEqual(new long[] { 0, 2, 4, 6, 8 }, evaluated);
        // A checkpoint after each evaluated step: step-N holds the N steps taken.
        CollectionAssert.AreEqual(new[] { "step-000001", "step-000003", "step-000005", "step-000007", "step-000009" }, saved);
        CollectionAssert.AreEqual(saved, CheckpointFolders());
        Assert.AreEqual("step-000009", Latest());
    }

    [TestMethod]
    public void ACheckpointIntervalReplacesTheEvaluationCadenceAndTheLastStepIsAlwaysSaved()
    {
        using var model = NewModel();
        using var trainer = new LanguageModelTrainer(model, Options with { CheckpointInterval = 4, KeepCheckpoints = 10 });
        List<string> saved = [];
        trainer.CheckpointSaved += folder => saved.Add(Path.GetFileName(folder));
        trainer.Train(Data, Validation);
        CollectionAssert.AreEqual(new[] { "step-000004", "step-000008", "step-000009" }, saved);
    }

    [TestMethod]
    public void TheNewestCheckpointsAreKeptAndTheOlderOnesDeleted()
    {
        using var model = NewModel();
        using var trainer = new LanguageModelTrainer(model, Options with { KeepCheckpoints = 2 });
        trainer.CheckpointSaved += _ => Assert.IsLessThanOrEqualTo(2, CheckpointFolders().Length, "never more than KeepCheckpoints on disk");
        trainer.Train(Data, Validation);
        CollectionAssert.AreEqual(new[] { "step-000007", "step-000009" }, CheckpointFolders());
        Assert.AreEqual("step-000009", Latest());
        Assert.AreEqual(Path.Combine(Directory, "step-000009"), TrainingCheckpoint.Locate(Directory));
    }

    [TestMethod]
    public void RetentionCountsByStepNeverDeletesLatestAndDropsTheCheckpointsOfAReplacedRun()
    {
        // A run that went to step 20 before this directory was reused by a new run from step 0.
        TrainingCheckpoint.Commit(Directory, 10, keep: 3, WriteState);
        TrainingCheckpoint.Commit(Directory, 20, keep: 3, WriteState);
        TrainingCheckpoint.Commit(Directory, 1, keep: 3, WriteState);
        CollectionAssert.AreEqual(new[] { "step-000001" }, CheckpointFolders(), "checkpoints of later steps belong to the replaced run");
        Assert.AreEqual("step-000001", Latest());

        foreach (long step in (long[])[2, 3, 4, 1_000_000])
            TrainingCheckpoint.Commit(Directory, step, keep: 3, WriteState);
        // Ordered by step, not by name: step-1000000 sorts before step-000004 as text.
        CollectionAssert.AreEqual(new[] { "step-000003", "step-000004", "step-1000000" }, CheckpointFolders());
        Assert.AreEqual("step-1000000", Latest());

        TrainingCheckpoint.Commit(Directory, 1_000_000, keep: 1, WriteState);
        CollectionAssert.AreEqual(new[] { "step-1000000" }, CheckpointFolders(), "rewriting the latest step keeps it");
    }

    [TestMethod]
    public void ANewRunInADirectoryOfAnEarlierOneReplacesItsCheckpointsAtItsFirst()
    {
        TrainingCheckpoint.Commit(Directory, 1, keep: 3, WriteState);
        TrainingCheckpoint.Commit(Directory, 2, keep: 3, WriteState);
        using var model = NewModel();
        using var trainer = new LanguageModelTrainer(model, Options with { CheckpointInterval = 4 });
        List<string[]> onDisk = [];
        trainer.CheckpointSaved += _ => onDisk.Add(CheckpointFolders());
        trainer.Train(Data, Validation);
        CollectionAssert.AreEqual(new[] { "step-000004" }, onDisk[0], "the earlier run's checkpoints are not this run's to keep");
        CollectionAssert.AreEqual(new[] { "step-000004", "step-000008", "step-000009" }, onDisk[^1], "this run's own are kept");
    }

    [TestMethod]
    public void AWriteThatACrashCutShortLeavesThePreviousCheckpointToResumeFrom()
    {
        // The uninterrupted run's losses.
        List<double> uninterrupted = [];
        using (var model = NewModel())
        using (var trainer = new LanguageModelTrainer(model, Options with { CheckpointDirectory = null }))
        {
            trainer.StepCompleted += step => uninterrupted.Add(step.Loss);
            trainer.Train(Data, Validation);
        }

        // A run stopped after 5 steps, then a crash inside the next checkpoint's write: the process died with the
        // temporary folder half written (a truncated weights file) and nothing renamed.
        List<double> losses = [];
        using (var model = NewModel())
        using (var trainer = new LanguageModelTrainer(model, Options))
        using (var stop = new CancellationTokenSource())
        {
            trainer.StepCompleted += step =>
            {
                losses.Add(step.Loss);
                if (step.Step == 4)
                    stop.Cancel();
            };
            Assert.ThrowsExactly<OperationCanceledException>(() => trainer.Train(Data, Validation, stop.Token));
        }
        Assert.AreEqual("step-000005", Latest());
        string halfWritten = Path.Combine(Directory, $".step-000007.{Guid.NewGuid():N}.tmp");
        System.IO.Directory.CreateDirectory(halfWritten);
        File.WriteAllBytes(Path.Combine(halfWritten, Checkpoints.Gpt2Checkpoint.WeightsFileName), new byte[100]);

        using var resumedModel = NewModel(seed: 2);
        using var resumed = new LanguageModelTrainer(resumedModel, Options with { ResumeFromCheckpoint = true });
        Assert.AreEqual(5L, resumed.StepsCompleted);
        resumed.StepCompleted += step => losses.Add(step.Loss);
        resumed.Train(Data, Validation);

        CollectionAssert.AreEqual(uninterrupted, losses, "the resumed run continues exactly");
        Assert.IsFalse(System.IO.Directory.Exists(halfWritten), "the next checkpoint clears what the crash left");
        CollectionAssert.AreEqual(new[] { "step-000005", "step-000007", "step-000009" }, CheckpointFolders());
    }

    [TestMethod]
    public void ResumingWithoutACheckpointStartsANewRun()
    {
        using var model = NewModel();
        using var trainer = new LanguageModelTrainer(model, Options with { ResumeFromCheckpoint = true, MaxSteps = 2 });
        Assert.AreEqual(0L, trainer.StepsCompleted);
        trainer.Train(Data, Validation);
        Assert.AreEqual("step-000002", Latest());
    }

    [TestMethod]
    public void ResumingWithOptionsThatChangeTheRunIsRefusedNamingThem()
    {
        using (var model = NewModel())
        using (var trainer = new LanguageModelTrainer(model, Options with { MaxSteps = 2 }))
            trainer.Train(Data, Validation);

        using var other = NewModel();
        var error = Assert.ThrowsExactly<ArgumentException>(() =>
            new LanguageModelTrainer(other, Options with { MaxSteps = 2, LearningRate = 1e-3, ResumeFromCheckpoint = true }));
        StringAssert.Contains(error.Message, "LearningRate is 0.001 here, 0.003 in the checkpoint");
        Assert.AreEqual(nameof(TrainingOptions.ResumeFromCheckpoint), error.ParamName);

        var otherModel = Assert.ThrowsExactly<ArgumentException>(() =>
        {
            using var wider = new Gpt2Model(Tiny with { Dropout = 0.2 }, CPU);
            using var trainer = new LanguageModelTrainer(wider, Options with { MaxSteps = 2, ResumeFromCheckpoint = true });
        });
        StringAssert.Contains(otherModel.Message, "another configuration");

        // Where and how often to checkpoint and report may change.
        using var resumed = new LanguageModelTrainer(other, Options with
        {
            MaxSteps = 2, ResumeFromCheckpoint = true, KeepCheckpoints = 1, LogInterval = 5, CheckpointInterval = 7,
        });
        Assert.AreEqual(2L, resumed.StepsCompleted);
    }

    [TestMethod]
    public void CheckpointOptionsAreCheckedByName()
    {
        void Refused(LanguageModelTrainingOptions options, string message)
        {
            var error = Assert.Throws<ArgumentException>(options.Validate);
            StringAssert.Contains(error.Message, message);
        }
        Refused(Options with { KeepCheckpoints = 0 }, "KeepCheckpoints is 0; it must be at least 1");
        Refused(Options with { CheckpointInterval = 0 }, "CheckpointInterval is 0; it must be at least 1");
        Refused(Options with { CheckpointDirectory = null, ResumeFromCheckpoint = true }, "ResumeFromCheckpoint is set but CheckpointDirectory is not");
    }
}
