using Gpt2.Torch.Data;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class TrainValidationSplitTests
{
    [TestMethod]
    public void TheVerdictSplitsIntoTheBooksNineTrainingBatchesAndOneValidationBatch()
    {
        string text = File.ReadAllText(TestPaths.Data("the-verdict.txt"));
        (string train, string validation) = TrainValidationSplit.SplitText(text, 0.9);
        Assert.AreEqual(18431, train.Length); // int(0.9 * 20479)
        Assert.AreEqual(text, train + validation);

        // The book's loaders: 9 training batches of [2, 256] (drop_last) and 1 validation batch of [2, 256],
        // "Training tokens: 4608, Validation tokens: 512".
        NextTokenBatches Loader(string part, bool dropLast) =>
            new(new NextTokenWindows(Gpt2Tokenizer.Default.Encode(part), 256, 256), 2, dropLast: dropLast);
        var trainBatches = Loader(train, dropLast: true).Batches().ToList();
        var validationBatches = Loader(validation, dropLast: false).Batches().ToList();
        Assert.AreEqual(4608L, trainBatches.Sum(b => b.Inputs.numel()));
        Assert.AreEqual(512L, validationBatches.Sum(b => b.Inputs.numel()));
        Assert.HasCount(9, trainBatches);
    }

    [TestMethod]
    public void CharactersAreCodePointsAsInPython()
    {
        // Four code points, five UTF-16 units: half is two code points, and the emoji stays whole.
        Assert.AreEqual(("a\U0001F600", "bc"), TrainValidationSplit.SplitText("a\U0001F600bc", 0.5));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TrainValidationSplit.SplitText("abc", 1.0));
    }
}
