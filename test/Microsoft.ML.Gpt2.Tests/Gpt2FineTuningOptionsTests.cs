using Gpt2.Torch;
using Gpt2.Torch.Model;
using Microsoft.ML.Gpt2.Classification;
using Microsoft.ML.Gpt2.Instructions;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// The ML.NET options report a bad value under the name the ML.NET user set (<c>MaxEpochs</c>,
/// <c>ResumeFromCheckpoint</c>, <c>LoRARank</c>), not under the core trainer's (<c>Epochs</c>, <c>LoRAOptions.Rank</c>),
/// when the estimator is created, before any model is loaded.
/// </summary>
[TestClass]
public sealed class Gpt2FineTuningOptionsTests
{
    private static readonly MLContext Context = new(seed: 1);

    private static readonly LanguageModelSource NeverLoaded = LanguageModelSource.Random(new Gpt2Config { ContextLength = 16, EmbeddingSize = 8, HeadCount = 2, LayerCount = 1 });

    // What every fine-tuning option set has, each change with the option name the error must start with.
    private static readonly (Action<Gpt2FineTuningOptions> Change, string Option)[] SharedMistakes =
    [
        (o => o.MaxEpochs = 0, "MaxEpochs"),
        (o => o.BatchSize = 0, "BatchSize"),
        (o => o.LearningRate = double.NaN, "LearningRate"),
        (o => o.WeightDecay = -1, "WeightDecay"),
        (o => o.WarmupSteps = -1, "WarmupSteps"),
        (o => { o.CosineDecay = true; o.MinimumLearningRate = 1; }, "MinimumLearningRate"),
        (o => o.GradientAccumulationSteps = 0, "GradientAccumulationSteps"),
        (o => o.MaxGradientNorm = 0, "MaxGradientNorm"),
        (o => o.Precision = (Precision)7, "Precision"),
        (o => o.EvaluationInterval = -1, "EvaluationInterval"),
        (o => o.LogInterval = 0, "LogInterval"),
        (o => { o.CheckpointDirectory = "checkpoints"; o.CheckpointInterval = 0; }, "CheckpointInterval"),
        (o => { o.CheckpointDirectory = "checkpoints"; o.KeepCheckpoints = 0; }, "KeepCheckpoints"),
        (o => o.ResumeFromCheckpoint = true, "ResumeFromCheckpoint"),
        (o => { o.TrainableLayers = TrainableLayers.LoRA; o.LoRARank = 0; }, "LoRARank"),
        (o => { o.TrainableLayers = TrainableLayers.LoRA; o.LoRAAlpha = double.PositiveInfinity; }, "LoRAAlpha"),
        (o => { o.TrainableLayers = TrainableLayers.LoRA; o.LoRATargets = LoRATargets.None; }, "LoRATargets"),
    ];

    private static void RefusedUnderItsOwnName(Action create, string option)
    {
        var error = Assert.Throws<ArgumentException>(create, option);
        Assert.AreEqual(option, error.ParamName, error.Message);
        Assert.StartsWith(option + " ", error.Message, "the message starts with the option as the ML.NET user set it");
    }

    private static Gpt2TextClassifier.Options ClassifierOptions() => new() { BaseModel = NeverLoaded, Sentence1ColumnName = "Text", Device = CPU };

    private static Gpt2InstructionTuner.Options TunerOptions() => new() { BaseModel = NeverLoaded, Device = CPU };

    [TestMethod]
    public void TheClassifiersOptionsAreRefusedUnderTheirOwnNames()
    {
        foreach ((Action<Gpt2FineTuningOptions> change, string option) in SharedMistakes)
        {
            Gpt2TextClassifier.Options options = ClassifierOptions();
            change(options);
            RefusedUnderItsOwnName(() => new Gpt2TextClassifier(Context, options), option);
        }
        foreach ((Action<Gpt2TextClassifier.Options> change, string option) in new (Action<Gpt2TextClassifier.Options>, string)[]
        {
            (o => o.MaxLength = 0, "MaxLength"),
            (o => o.ScoringBatchSize = 0, "ScoringBatchSize"),
            (o => o.TrainableLayers = (TrainableLayers)9, "TrainableLayers"),
            (o => o.Sentence2ColumnName = o.Sentence1ColumnName, "Sentence2ColumnName"),
        })
        {
            Gpt2TextClassifier.Options options = ClassifierOptions();
            change(options);
            RefusedUnderItsOwnName(() => new Gpt2TextClassifier(Context, options), option);
        }
    }

    [TestMethod]
    public void TheInstructionTunersOptionsAreRefusedUnderTheirOwnNames()
    {
        foreach ((Action<Gpt2FineTuningOptions> change, string option) in SharedMistakes)
        {
            Gpt2InstructionTuner.Options options = TunerOptions();
            change(options);
            RefusedUnderItsOwnName(() => new Gpt2InstructionTuner(Context, options), option);
        }
        foreach ((Action<Gpt2InstructionTuner.Options> change, string option) in new (Action<Gpt2InstructionTuner.Options>, string)[]
        {
            (o => o.AllowedMaxLength = 1, "AllowedMaxLength"),
            (o => o.TrainableLayers = TrainableLayers.LastBlock, "TrainableLayers"),
        })
        {
            Gpt2InstructionTuner.Options options = TunerOptions();
            change(options);
            RefusedUnderItsOwnName(() => new Gpt2InstructionTuner(Context, options), option);
        }
    }

    [TestMethod]
    public void TheDefaultsAndACheckpointedResumableSetAreAccepted()
    {
        Gpt2TextClassifier.Options classifier = ClassifierOptions();
        classifier.CheckpointDirectory = "checkpoints";
        classifier.ResumeFromCheckpoint = true;
        _ = new Gpt2TextClassifier(Context, classifier);
        Gpt2InstructionTuner.Options tuner = TunerOptions();
        tuner.TrainableLayers = TrainableLayers.LoRA;
        _ = new Gpt2InstructionTuner(Context, tuner);
    }
}
