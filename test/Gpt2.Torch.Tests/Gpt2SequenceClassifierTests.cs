using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class Gpt2SequenceClassifierTests
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 100, ContextLength = 32, EmbeddingSize = 16, HeadCount = 2, LayerCount = 3, Dropout = 0 };

    private static Gpt2SequenceClassifier NewClassifier(int classes = 3)
    {
        random.manual_seed(5);
        return new Gpt2SequenceClassifier(new Gpt2Model(Tiny, CPU), classes);
    }

    [TestMethod]
    public void ClassifiesFromTheLastRealTokenSoPaddingAndBatchingChangeNothing()
    {
        using var scope = NewDisposeScope();
        using var classifier = NewClassifier();
        classifier.eval();
        int[][] sequences = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15]];
        float[][] batched = classifier.PredictProbabilities(sequences, batchSize: 3);
        for (int i = 0; i < sequences.Length; i++)
        {
            float[] alone = classifier.PredictProbabilities([sequences[i]])[0];
            for (int c = 0; c < 3; c++)
                Assert.AreEqual(alone[c], batched[i][c], 1e-5, $"sequence {i}, class {c}");
        }

        // The oracle: the head applied by hand to the body's hidden state at the last token of the unpadded sequence.
        Tensor hidden = classifier.Transformer.ComputeHiddenStates(tensor(new long[] { 8, 9, 10, 11, 12, 13, 14 }, int64).unsqueeze(0));
        Tensor expected = softmax(hidden[0, -1].matmul(classifier.HeadWeight.t()) + classifier.HeadBias, -1);
        CollectionAssert.AreEqual(expected.data<float>().Select(v => MathF.Round(v, 5)).ToArray(), batched[1].Select(v => MathF.Round(v, 5)).ToArray());
    }

    [TestMethod]
    public void TrainableLayersFreezeEverythingElse()
    {
        using var classifier = NewClassifier();
        string[] Trainable() => [.. classifier.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name)];

        classifier.SetTrainableLayers(TrainableLayers.LastBlock);
        string[] lastBlock = Trainable();
        Assert.IsTrue(lastBlock.All(n => n.StartsWith("transformer.h.2.") || n.StartsWith("transformer.ln_f.") || n.StartsWith("score.")), string.Join(", ", lastBlock));
        Assert.IsTrue(lastBlock.Contains("transformer.h.2.attn.c_attn.weight") && lastBlock.Contains("transformer.ln_f.weight") && lastBlock.Contains("score.weight"));

        classifier.SetTrainableLayers(TrainableLayers.HeadOnly);
        CollectionAssert.AreEquivalent(new[] { "score.weight", "score.bias" }, Trainable());

        classifier.SetTrainableLayers(TrainableLayers.All);
        Assert.AreEqual(classifier.named_parameters().Count(), Trainable().Length);
    }

    [TestMethod]
    public void TrainingLearnsASeparableTaskAndOnlyTouchesTrainableLayers()
    {
        using var classifier = NewClassifier(classes: 2);
        classifier.SetTrainableLayers(TrainableLayers.LastBlock);
        float[] frozenBefore = classifier.Transformer.TokenEmbedding.data<float>().ToArray();
        var rng = new Random(3);
        List<ClassificationExample> Examples(int count) => SeparableTokenTask.Examples(rng, count);
        List<ClassificationExample> train = Examples(160), test = Examples(40);
        using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions { LearningRate = 3e-3, Epochs = 8, EvaluationInterval = 0 });
        double before = trainer.Evaluate(test).Accuracy;
        trainer.Train(train);
        (double loss, double accuracy) = trainer.Evaluate(test);
        Assert.IsTrue(accuracy >= 0.9, $"accuracy {accuracy} (before training {before})");
        Assert.IsTrue(loss < 0.4, $"loss {loss}");
        CollectionAssert.AreEqual(frozenBefore, classifier.Transformer.TokenEmbedding.data<float>().ToArray(), "the frozen embedding did not move");
    }

    [TestMethod]
    public void RightPaddedBatchPadsWithEndOfText()
    {
        (Tensor ids, Tensor lengths) = RightPaddedBatch.Create([[1, 2, 3], [4]]);
        CollectionAssert.AreEqual(new long[] { 1, 2, 3, 4, 50256, 50256 }, ids.data<long>().ToArray());
        CollectionAssert.AreEqual(new long[] { 3, 1 }, lengths.data<long>().ToArray());
        Assert.ThrowsExactly<ArgumentException>(() => RightPaddedBatch.Create([[1], []]));
    }

    [TestMethod]
    public void TrainerRejectsBadExamplesByIndex()
    {
        using var classifier = NewClassifier(classes: 2);
        using var trainer = new SequenceClassificationTrainer(classifier, new SequenceClassificationOptions());
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => trainer.Train([new([1, 2], 0), new([], 1)])).Message, "example 1 has no tokens");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => trainer.Train([new([1, 2], 2)])).Message, "label 2");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => trainer.Train([new(new int[40], 0)])).Message, "context length 32");
    }
}
