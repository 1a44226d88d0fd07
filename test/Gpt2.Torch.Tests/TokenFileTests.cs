using System.Text;
using Gpt2.Torch.Data;
using Gpt2.Torch.Tokenization;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class TokenFileTests : TemporaryDirectoryTest
{
    private static readonly string VerdictPath = TestPaths.Data("the-verdict.txt");
    private static Tokenizer Gpt2 => Gpt2Tokenizer.Default.Tokenizer;

    private string WriteVerdictTokens(int chunkCharacters)
    {
        string path = Path.Combine(Directory, "verdict.bin");
        Assert.AreEqual(5145L, TokenFile.Write(VerdictPath, path, Gpt2, chunkCharacters));
        return path;
    }

    [TestMethod]
    public void ChunkedTokenizationOfTheVerdictEqualsWholeTextTokenization()
    {
        int[] whole = Gpt2Tokenizer.Default.Encode(File.ReadAllText(VerdictPath));
        string path = WriteVerdictTokens(chunkCharacters: 500);   // about 20 chunks
        Assert.AreEqual(2 * 5145L, new FileInfo(path).Length);
        using TokenFile tokens = TokenFile.Open(path);
        Assert.HasCount(5145, tokens);
        CollectionAssert.AreEqual(whole, tokens.ToArray());
    }

    [TestMethod]
    public void ChunkCutsNeverChangeTheTokensOfTrickyText()
    {
        string[] pieces =
        [
            "word", "Word", "42", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "'s", "'ll", "!?", "...", "😀", "日本語", "é",
            "\u00a0", "\u2028", "<|endoftext|>", " <|endoftext|>", "x²", "—",
        ];
        var random = new Random(3);
        for (int sample = 0; sample < 300; sample++)
        {
            var text = new StringBuilder();
            for (int i = random.Next(1, 60); i > 0; i--)
                text.Append(pieces[random.Next(pieces.Length)]);
            string value = text.ToString();
            int chunk = random.Next(1, 40);
            string[] chunks = [.. TextChunks.Split(new StringReader(value), chunk)];
            Assert.AreEqual(value, string.Concat(chunks));
            int[] expected = [.. Gpt2.EncodeToIds(value)];
            CollectionAssert.AreEqual(expected, chunks.SelectMany(c => Gpt2.EncodeToIds(c)).ToArray(), $"chunks of {chunk}: [{string.Join("|", chunks)}]");
        }
    }

    [TestMethod]
    public void TheBooksFirstBatchComesFromTheTokenFileAsFromTheTokenList()
    {
        int[] whole = Gpt2Tokenizer.Default.Encode(File.ReadAllText(VerdictPath));
        using TokenFile tokens = TokenFile.Open(WriteVerdictTokens(chunkCharacters: 1000));
        var fromFile = new NextTokenBatches(new NextTokenWindows(tokens, maxLength: 4, stride: 4), batchSize: 8);
        var fromList = new NextTokenBatches(new NextTokenWindows(whole, maxLength: 4, stride: 4), batchSize: 8);

        (Tensor inputs, Tensor targets) = fromFile.Batches().First();
        CollectionAssert.AreEqual(new long[] { 40, 367, 2885, 1464 }, inputs[0].data<long>().ToArray());
        CollectionAssert.AreEqual(new long[] { 1807, 3619, 402, 271 }, inputs[1].data<long>().ToArray());
        CollectionAssert.AreEqual(new long[] { 367, 2885, 1464, 1807 }, targets[0].data<long>().ToArray());
        Assert.AreEqual(fromList.Count, fromFile.Count);
        foreach (var (file, list) in fromFile.Batches().Zip(fromList.Batches()))
        {
            Assert.IsTrue(file.Inputs.equal(list.Inputs).all().item<bool>());
            Assert.IsTrue(file.Targets.equal(list.Targets).all().item<bool>());
        }
    }

    [TestMethod]
    public void IdsThatDoNotFitInSixteenBitsFailAtTokenizeTime()
    {
        // A byte-level tokenizer whose 256 byte tokens have ids from 70000 on.
        var bytes = new BpeTokenizerOptionsForTests(70_000).Create();
        string path = Path.Combine(Directory, "too-big.bin");
        var error = Assert.ThrowsExactly<ArgumentException>(() => TokenFile.Write(VerdictPath, path, bytes));
        StringAssert.Contains(error.Message, "uint16");
        Assert.IsFalse(File.Exists(path), "no partial token file is left behind");
        Assert.IsEmpty(System.IO.Directory.GetFiles(Directory));
    }

    [TestMethod]
    public void MalformedOrMissingTokenFilesAreRejected()
    {
        string odd = Path.Combine(Directory, "odd.bin");
        File.WriteAllBytes(odd, [1, 2, 3]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => TokenFile.Open(odd)).Message, "odd");
        Assert.ThrowsExactly<FileNotFoundException>(() => TokenFile.Open(Path.Combine(Directory, "missing.bin")));

        string emptyText = Path.Combine(Directory, "empty.txt");
        File.WriteAllText(emptyText, "");
        Assert.AreEqual(0L, TokenFile.Write(emptyText, Path.Combine(Directory, "empty.bin"), Gpt2));
        using TokenFile empty = TokenFile.Open(Path.Combine(Directory, "empty.bin"));
        Assert.IsEmpty(empty);
        Assert.AreEqual(0, new NextTokenWindows(empty, 4, 4).Count);
    }

    private sealed record BpeTokenizerOptionsForTests(int FirstId)
    {
        public Tokenizer Create()
        {
            var vocabulary = Enumerable.Range(0, 256).ToDictionary(b => ByteLevelAlphabet.ByteToUnicode[b].ToString(), b => FirstId + b);
            return BpeTokenizer.Create(new BpeOptions(vocabulary) { ByteLevel = true });
        }
    }
}
