using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Pretraining actually learns: a small model trained on the opening of The Verdict goes far below the loss of
/// predicting word frequencies alone (about 6 nats on this text).
/// </summary>
[TestClass]
public sealed class LanguageModelLearningTests
{
    [TestMethod]
    public void ASmallModelLearnsAShortTextFarBeyondWordFrequencies()
    {
        int[] tokens = Gpt2Tokenizer.Default.Encode(File.ReadAllText(TestPaths.Data("the-verdict.txt")))[..257];
        random.manual_seed(1);
        using var model = new Gpt2Model(new Gpt2Config { ContextLength = 32, EmbeddingSize = 64, HeadCount = 2, LayerCount = 2, Dropout = 0, QkvBias = false, TieWordEmbeddings = false }, CPU);
        var train = new NextTokenBatches(new NextTokenWindows(tokens, 32, 32), batchSize: 2, shuffle: true, seed: 2);
        using var trainer = new LanguageModelTrainer(model, new LanguageModelTrainingOptions { Epochs = 40, LearningRate = 1e-3, EvaluationInterval = 1000, EvaluationBatches = 4 });
        var losses = new List<double>();
        trainer.StepCompleted += step => losses.Add(step.Loss);
        TrainingEvaluation last = trainer.Train(train, train);
        Assert.IsTrue(losses[0] > 9, $"first loss {losses[0]}");
        Assert.IsTrue(last.TrainLoss < 3.0, $"after {losses.Count} steps the training loss is {last.TrainLoss} (losses: {string.Join(", ", losses.Where((_, i) => i % 20 == 0).Select(l => l.ToString("F2")))})");
    }
}
