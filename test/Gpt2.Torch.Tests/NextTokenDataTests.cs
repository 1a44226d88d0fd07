using Gpt2.Torch.Data;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class NextTokenDataTests
{
    private static readonly int[] Verdict = Gpt2Tokenizer.Default.Encode(File.ReadAllText(TestPaths.Data("the-verdict.txt")));

    private static long[][] Rows(Tensor batch) =>
        [.. Enumerable.Range(0, (int)batch.shape[0]).Select(r => batch[r].data<long>().ToArray())];

    [TestMethod]
    public void TheBooksBatchOfEightWindowsOfFourWithStrideFour()
    {
        var batches = new NextTokenBatches(new NextTokenWindows(Verdict, maxLength: 4, stride: 4), batchSize: 8);
        (Tensor inputs, Tensor targets) = batches.Batches().First();
        long[][] input = Rows(inputs), target = Rows(targets);
        CollectionAssert.AreEqual(new long[] { 40, 367, 2885, 1464 }, input[0]);
        CollectionAssert.AreEqual(new long[] { 1807, 3619, 402, 271 }, input[1]);
        CollectionAssert.AreEqual(new long[] { 367, 2885, 1464, 1807 }, target[0]);
        CollectionAssert.AreEqual(new long[] { 3619, 402, 271, 10899 }, target[1]);
        CollectionAssert.AreEqual(new long[] { 8, 4 }, inputs.shape);
    }

    [TestMethod]
    public void StrideOneAndBatchOneGiveTheBooksFirstPair()
    {
        (Tensor inputs, Tensor targets) = new NextTokenBatches(new NextTokenWindows(Verdict, 4, 1), 1).Batches().First();
        CollectionAssert.AreEqual(new long[] { 40, 367, 2885, 1464 }, inputs.data<long>().ToArray());
        CollectionAssert.AreEqual(new long[] { 367, 2885, 1464, 1807 }, targets.data<long>().ToArray());
    }

    [TestMethod]
    public void WindowCountFollowsPythonsRangeAndDropLastDecidesTheTail()
    {
        var windows = new NextTokenWindows([.. Enumerable.Range(0, 10)], maxLength: 3, stride: 2);
        Assert.AreEqual(4, windows.Count); // starts 0, 2, 4, 6
        CollectionAssert.AreEqual(new[] { 7, 8, 9 }, windows[3].Target);
        Assert.AreEqual(1, new NextTokenBatches(windows, 3, dropLast: true).Batches().Count());
        CollectionAssert.AreEqual(new long[] { 1, 3 }, new NextTokenBatches(windows, 3, dropLast: false).Batches().Last().Inputs.shape);
    }

    [TestMethod]
    public void ShufflingIsSeededAndCoversEveryWindowOnce()
    {
        var windows = new NextTokenWindows(Verdict, 8, 8);
        long[] FirstTokens(NextTokenBatches batches) => [.. batches.Batches().SelectMany(b => Rows(b.Inputs).Select(r => r[0]))];
        long[] a = FirstTokens(new NextTokenBatches(windows, 4, shuffle: true, seed: 5, dropLast: false));
        long[] b = FirstTokens(new NextTokenBatches(windows, 4, shuffle: true, seed: 5, dropLast: false));
        long[] inOrder = FirstTokens(new NextTokenBatches(windows, 4, dropLast: false));
        CollectionAssert.AreEqual(a, b);
        CollectionAssert.AreNotEqual(inOrder, a);
        CollectionAssert.AreEquivalent(inOrder, a);
    }

    [TestMethod]
    public void EachEpochHasItsOwnOrderWhichReplaysAndCanBeEnteredMidway()
    {
        var batches = new NextTokenBatches(new NextTokenWindows(Verdict, 8, 8), 4, shuffle: true, seed: 5);
        long[] FirstTokens(IEnumerable<(Tensor Inputs, Tensor Targets)> pass) => [.. pass.SelectMany(b => Rows(b.Inputs).Select(r => r[0]))];
        long[] epoch1 = FirstTokens(batches.Batches(epoch: 1));
        CollectionAssert.AreEqual(epoch1, FirstTokens(batches.Batches(epoch: 1)));
        CollectionAssert.AreNotEqual(FirstTokens(batches.Batches(epoch: 0)), epoch1);
        CollectionAssert.AreEqual(epoch1[(3 * 4)..], FirstTokens(batches.Batches(epoch: 1, skip: 3)));
    }
}
