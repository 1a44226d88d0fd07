using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Gpt2.Torch.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class BpeTrainerTests : TemporaryDirectoryTest
{
    private const string EndOfText = "<|endoftext|>";
    private static readonly string Verdict = File.ReadAllText(TestPaths.Data("the-verdict.txt"));
    private static readonly Lazy<ByteLevelBpeVocabulary> Trained = new(() => BpeTrainer.Train([Verdict], 1000, [EndOfText]));

    private Tokenizer SavedAndLoaded(ByteLevelBpeVocabulary vocabulary)
    {
        vocabulary.Save(Directory);
        return ByteLevelBpeVocabulary.Load(Directory).CreateTokenizer();
    }

    [TestMethod]
    public void AThousandTokenVocabularyOnTheVerdictTrainsInSecondsAndCompressesLosslessly()
    {
        var clock = Stopwatch.StartNew();
        ByteLevelBpeVocabulary vocabulary = BpeTrainer.Train([Verdict], 1000, [EndOfText]);
        Assert.IsLessThan(20.0, clock.Elapsed.TotalSeconds, "training must take seconds");

        Assert.AreEqual(1000, vocabulary.Count);
        Assert.HasCount(1000 - 256 - 1, vocabulary.Merges);
        Assert.AreEqual(EndOfText, vocabulary.Tokens[999]);
        Tokenizer tokenizer = SavedAndLoaded(vocabulary);
        IReadOnlyList<int> ids = tokenizer.EncodeToIds(Verdict);
        Assert.IsLessThan(Encoding.UTF8.GetByteCount(Verdict) / 2, ids.Count, "a 1000-token vocabulary more than halves the bytes");
        Assert.AreEqual(Verdict, tokenizer.Decode(ids));
    }

    [TestMethod]
    public void TrainingIsDeterministic() =>
        CollectionAssert.AreEqual(Trained.Value.Merges.ToArray(), BpeTrainer.Train([Verdict], 1000, [EndOfText]).Merges.ToArray());

    [TestMethod]
    public void TheFirst256IdsAreGpt2sByteTokens()
    {
        using Stream encoder = Gpt2Tokenizer.OpenResource("encoder.json");
        string[] gpt2 = [.. JsonSerializer.Deserialize<Dictionary<string, int>>(encoder)!.OrderBy(e => e.Value).Take(256).Select(e => e.Key)];
        CollectionAssert.AreEqual(gpt2, Trained.Value.Tokens.Take(256).ToArray());
    }

    [TestMethod]
    public void IncrementalCountingLearnsTheMergesOfRecountingFromScratch()
    {
        string text = Verdict[..4000];
        ByteLevelBpeVocabulary vocabulary = BpeTrainer.Train([text], 420);
        (List<(string, string)> merges, int tokenCount) = NaiveBpe(text, 420 - 256);
        CollectionAssert.AreEqual(merges, vocabulary.Merges.ToArray());
        // The loaded tokenizer applies the merges as training did: the text becomes exactly as many tokens.
        Assert.HasCount(tokenCount, SavedAndLoaded(vocabulary).EncodeToIds(text));
    }

    // The textbook algorithm: recount every pair of every word before each merge.
    private static (List<(string, string)> Merges, int TokenCount) NaiveBpe(string text, int mergeCount)
    {
        var words = Gpt2Tokenizer.PreTokenizationPattern().Matches(text).GroupBy(m => m.Value)
            .Select(g => (Symbols: Encoding.UTF8.GetBytes(g.Key).Select(b => ByteLevelAlphabet.ByteToUnicode[b].ToString()).ToList(), Count: g.Count()))
            .ToList();
        var ids = ByteLevelAlphabet.ByteTokens.Select((t, i) => (t, i)).ToDictionary(e => e.t, e => e.i);
        var merges = new List<(string, string)>();
        while (merges.Count < mergeCount)
        {
            var counts = new Dictionary<(string, string), int>();
            foreach (var (symbols, count) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    counts[(symbols[i], symbols[i + 1])] = counts.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            var best = counts.Where(c => !ids.ContainsKey(c.Key.Item1 + c.Key.Item2))
                .OrderByDescending(c => c.Value).ThenBy(c => ids[c.Key.Item1]).ThenBy(c => ids[c.Key.Item2]).Select(c => c.Key).FirstOrDefault();
            if (best == default)
                break;
            ids[best.Item1 + best.Item2] = ids.Count;
            merges.Add(best);
            foreach (var (symbols, _) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] += symbols[i + 1];
                        symbols.RemoveAt(i + 1);
                    }
        }
        return (merges, Gpt2Tokenizer.PreTokenizationPattern().Matches(text).Sum(m => words.First(w => string.Concat(w.Symbols) == ToAlphabet(m.Value)).Symbols.Count));
    }

    private static string ToAlphabet(string word) => string.Concat(Encoding.UTF8.GetBytes(word).Select(b => ByteLevelAlphabet.ByteToUnicode[b]));

    [TestMethod]
    public void TheTrainedTokenizerRoundTripsAnyText()
    {
        Tokenizer tokenizer = SavedAndLoaded(Trained.Value);
        string[] pieces =
        [
            "a", "Z", "9", " ", "  ", "     ", "\t", "\n", "\n\n\n", "\r\n", "\u0000", "'s", "'ll", "?!", "...", "the", " picture", "Gisburn",
            "😀", "👩‍👩‍👧", "🇩🇪", "日本語", "é", "e\u0301", "ß", "Ω", "\u200b", "\u00a0", "—", "ﬁ", "123", "x²", EndOfText,
        ];
        var random = new Random(5);
        for (int sample = 0; sample < 1000; sample++)
        {
            string text = string.Concat(Enumerable.Range(0, random.Next(1, 15)).Select(_ => pieces[random.Next(pieces.Length)]));
            Assert.AreEqual(text, tokenizer.Decode(tokenizer.EncodeToIds(text)), $"round trip of: {text}");
        }
        CollectionAssert.Contains(tokenizer.EncodeToIds("one" + EndOfText + "two").ToArray(), 999);
    }

    [TestMethod]
    public void Gpt2sOwnFilesLoadTheSameWayAndTokenizeLikeOpenAi()
    {
        Gpt2Tokenizer.WriteHuggingFaceFiles(Directory);
        ByteLevelBpeVocabulary gpt2 = ByteLevelBpeVocabulary.Load(Directory);
        Assert.AreEqual(50257, gpt2.Count);
        CollectionAssert.AreEqual(new[] { EndOfText }, gpt2.SpecialTokens.ToArray());
        Tokenizer tokenizer = gpt2.CreateTokenizer();
        CollectionAssert.AreEqual(Gpt2Tokenizer.Default.Encode(Verdict), tokenizer.EncodeToIds(Verdict).ToArray());
        CollectionAssert.AreEqual(new[] { 15496, 50256, 10603 }, tokenizer.EncodeToIds("Hello" + EndOfText + "World").ToArray());
    }

    [TestMethod]
    public void BadRequestsAndFilesAreRejected()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => BpeTrainer.Train([Verdict], 256, [EndOfText])).Message, "257");
        Assert.ThrowsExactly<ArgumentException>(() => BpeTrainer.Train([Verdict], 300, [EndOfText, EndOfText]));
        Assert.ThrowsExactly<FileNotFoundException>(() => ByteLevelBpeVocabulary.Load(Directory));
        Trained.Value.Save(Directory);
        File.AppendAllText(Path.Combine(Directory, "merges.txt"), "Ġthe nonsense\n");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ByteLevelBpeVocabulary.Load(Directory)).Message, "Ġthe nonsense");
    }
}
