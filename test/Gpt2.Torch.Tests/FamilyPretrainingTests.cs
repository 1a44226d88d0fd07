using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// <see cref="LanguageModelTrainer"/> pretraining a tiny Llama-family model on text read with its own tokenizer: the
/// loss falls, a run stopped and resumed from its checkpoint repeats the uninterrupted run, and the checkpoint directory
/// loads as a pretrained source.
/// </summary>
[TestClass]
public sealed class FamilyPretrainingTests : TemporaryDirectoryTest
{
    private static readonly LlamaConfig Config = TinyFamilyModel.Config with { ContextLength = 32 };
    private static int[] _tokens = null!;
    private static HuggingFaceTokenizer _tokenizer = null!;

    [ClassInitialize]
    public static void Tokenize(TestContext _)
    {
        _tokenizer = TinyFamilyModel.LoadTokenizer();
        _tokens = _tokenizer.Encode(File.ReadAllText(TestPaths.Data("the-verdict.txt"))[..6000]);
    }

    // Windows of 32 tokens, batches of 4; the validation text is the end of the story.
    private static NextTokenBatches Train => new(new NextTokenWindows(_tokens[..^640], Config.ContextLength, Config.ContextLength), 4, shuffle: true, seed: 3);

    private static NextTokenBatches Validation => new(new NextTokenWindows(_tokens[^640..], Config.ContextLength, Config.ContextLength), 4);

    private static LanguageModelTrainingOptions Options => new()
    {
        Epochs = 2,
        LearningRate = 5e-3,
        WarmupSteps = 2,
        CosineDecay = true,
        MinimumLearningRate = 1e-4,
        MaxGradientNorm = 1.0,
        EvaluationInterval = 10,
        EvaluationBatches = 5,
        SamplePrompt = [(int)'T'],   // a byte token: ids 0-255 are the bytes
        SampleGeneration = new GenerationOptions { MaxNewTokens = 4 },
        Tokenizer = _tokenizer,
        Seed = 7,
    };

    private static LlamaModel NewModel(int seed)
    {
        random.manual_seed(seed);
        return Config.CreateModel(CPU);
    }

    [TestMethod]
    public void LossFallsAndAResumedRunRepeatsTheUninterruptedOneAndItsCheckpointLoadsAsAPretrainedSource()
    {
        var uninterrupted = new List<double>();
        TrainingEvaluation last;
        using (LlamaModel model = NewModel(1))
        using (var trainer = new LanguageModelTrainer(model, Options))
        {
            trainer.StepCompleted += step => uninterrupted.Add(step.Loss);
            last = trainer.Train(Train, Validation);
            Assert.IsTrue(last.ValidationLoss < trainer.Evaluations[0].ValidationLoss - 1,
                $"validation loss {trainer.Evaluations[0].ValidationLoss} -> {last.ValidationLoss}");
            Assert.IsTrue(trainer.Evaluations[0].ValidationLoss > Math.Log(TinyFamilyModel.VocabSize) - 1, "an untrained model is near ln(vocabulary)");
        }

        var stop = new CancellationTokenSource();
        var first = new List<double>();
        using (LlamaModel model = NewModel(1))
        using (var trainer = new LanguageModelTrainer(model, Options with { CheckpointDirectory = Directory }))
        {
            trainer.StepCompleted += step => { first.Add(step.Loss); if (step.Step == 6) stop.Cancel(); };
            Assert.ThrowsExactly<OperationCanceledException>(() => trainer.Train(Train, Validation, stop.Token));
        }

        // Other weights: they must come from the checkpoint (a Hugging Face folder of the family).
        using LlamaModel resumedModel = NewModel(2);
        var second = new List<double>();
        using (var resumed = new LanguageModelTrainer(resumedModel, Options with { CheckpointDirectory = Directory, ResumeFromCheckpoint = true }))
        {
            Assert.AreEqual(7L, resumed.StepsCompleted);
            Assert.IsFalse(File.ReadAllText(Path.Combine(TrainingCheckpoint.Locate(Directory), TrainingCheckpoint.StateFileName)).Contains("Tokenizer", StringComparison.Ordinal),
                "the tokenizer is no part of the run's state");
            resumed.StepCompleted += step => second.Add(step.Loss);
            TrainingEvaluation final = resumed.Train(Train, Validation);
            Assert.AreEqual(last.ValidationLoss, final.ValidationLoss, 1e-5);
        }
        double[] joined = [.. first, .. second];
        Assert.HasCount(uninterrupted.Count, joined);
        for (int i = 0; i < joined.Length; i++)
            Assert.AreEqual(uninterrupted[i], joined[i], 1e-5, $"step {i}");

        // The directory's latest checkpoint is the model, as a pretrained source of its family.
        using CausalLanguageModel loaded = LanguageModelSource.Pretrained(Directory).Load(CPU);
        Assert.IsInstanceOfType<LlamaModel>(loaded);
        Assert.AreEqual(Config.ContextLength, loaded.Config.ContextLength);
        var saved = loaded.state_dict();
        foreach ((string name, Tensor value) in resumedModel.state_dict())
            Assert.IsTrue(value.equal(saved[name]).all().item<bool>(), name);
    }

    [TestMethod]
    public void ASamplePromptWithoutTheFamilysTokenizerIsRefusedBeforeTraining()
    {
        using LlamaModel model = NewModel(1);
        var error = Assert.ThrowsExactly<ArgumentException>(() => new LanguageModelTrainer(model, Options with { Tokenizer = null }));
        StringAssert.Contains(error.Message, "Tokenizer");
        StringAssert.Contains(error.Message, "'llama'");
        using var withoutSamples = new LanguageModelTrainer(model, Options with { Tokenizer = null, SamplePrompt = null });
    }
}
