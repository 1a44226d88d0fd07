using System.Text;
using System.Text.Json;
using Gpt2.Torch.Tokenization;
using SharpToken;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class TokenizerTests
{
    private static readonly GptEncoding OpenAi = GptEncoding.GetEncoding("r50k_base");
    private static Gpt2Tokenizer Tokenizer => Gpt2Tokenizer.Default;

    private static void AssertSameAsOpenAi(string text)
    {
        int[] ours = Tokenizer.Encode(text);
        List<int> reference = OpenAi.Encode(text, allowedSpecial: new HashSet<string>(), disallowedSpecial: new HashSet<string>());
        CollectionAssert.AreEqual(reference, ours, $"Token ids differ from OpenAI's for: {text}");
    }

    [TestMethod]
    [DataRow("Hello, I am", new[] { 15496, 11, 314, 716 })]
    [DataRow("Every effort moves you", new[] { 6109, 3626, 6100, 345 })]
    [DataRow("Every day holds a", new[] { 6109, 1110, 6622, 257 })]
    public void EncodesTheBooksExamples(string text, int[] expected) =>
        CollectionAssert.AreEqual(expected, Tokenizer.Encode(text));

    [TestMethod]
    public void TheVerdictHas5145TokensIdenticalToOpenAis()
    {
        string text = File.ReadAllText(TestPaths.Data("the-verdict.txt"));
        Assert.AreEqual(20479, text.Length);
        int[] ids = Tokenizer.Encode(text);
        Assert.AreEqual(5145, ids.Length);
        CollectionAssert.AreEqual(new[] { 40, 367, 2885, 1464, 1807, 3619, 402, 271 }, ids.Take(8).ToArray());
        AssertSameAsOpenAi(text);
        Assert.AreEqual(text, Tokenizer.Decode(ids));
    }

    [TestMethod]
    public void EverySmsMessageMatchesOpenAi()
    {
        string[] lines = File.ReadAllLines(TestPaths.Data("SMSSpamCollection"));
        Assert.AreEqual(5574, lines.Length);
        foreach (string line in lines)
        {
            string message = line[(line.IndexOf('\t') + 1)..];
            AssertSameAsOpenAi(message);
            Assert.AreEqual(message, Tokenizer.Decode(Tokenizer.Encode(message)));
        }
    }

    [TestMethod]
    public void EveryInstructionFieldMatchesOpenAi()
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(TestPaths.Data("instruction-data.json")));
        int entries = 0;
        foreach (JsonElement entry in document.RootElement.EnumerateArray())
        {
            foreach (JsonProperty field in entry.EnumerateObject())
                AssertSameAsOpenAi(field.Value.GetString()!);
            entries++;
        }
        Assert.AreEqual(1100, entries);
    }

    [TestMethod]
    public void RandomUnicodeMatchesOpenAiAndRoundTrips()
    {
        string[] pieces =
        [
            "a", "Z", "9", " ", "  ", "   ", "\t", "\n", "\r\n", "\u000b", "\u0000", "\u001f", "'s", "'ll", "'re", "?!", "...",
            "😀", "👩‍👩‍👧", "🇩🇪", "日本語", "中文", "한국어", "é", "e\u0301", "ñ", "ß", "Ω", "\u200b", "\u00a0", "—", "«", "ﬁ",
            "123", "4.5", "x²", "\u0663", "Ⅻ", "<", "|", ">", "endoftext", "<|endoftext|>",
        ];
        var random = new Random(20261122);
        for (int sample = 0; sample < 3000; sample++)
        {
            var text = new StringBuilder();
            int count = random.Next(1, 12);
            for (int i = 0; i < count; i++)
                text.Append(pieces[random.Next(pieces.Length)]);
            if (random.Next(4) == 0)
                text.Append(' ', random.Next(1, 20));
            string value = text.ToString();
            AssertSameAsOpenAi(value);
            Assert.AreEqual(value, Tokenizer.Decode(Tokenizer.Encode(value)));
        }
    }

    [TestMethod]
    public void EndOfTextIsASpecialTokenOnlyWhenAllowed()
    {
        const string text = "Hello<|endoftext|>World";
        int[] allowed = Tokenizer.Encode(text, allowSpecialTokens: true);
        CollectionAssert.AreEqual(new[] { 15496, Gpt2Tokenizer.EndOfTextTokenId, 10603 }, allowed);
        CollectionAssert.AreEqual(OpenAi.Encode(text, allowedSpecial: new HashSet<string> { "<|endoftext|>" }), allowed);

        int[] asText = Tokenizer.Encode(text);
        CollectionAssert.DoesNotContain(asText, Gpt2Tokenizer.EndOfTextTokenId);
        Assert.AreEqual(text, Tokenizer.Decode(asText));
        Assert.AreEqual(text, Tokenizer.Decode(allowed));
    }

    [TestMethod]
    public void EmbeddedEncoderRanksFollowTheMergeOrderOfVocabBpe()
    {
        // tiktoken's own consistency check: id 256 + i is the concatenation of merge i's two parts.
        using var merges = new StreamReader(Gpt2Tokenizer.OpenResource("vocab.bpe"));
        using var encoderStream = Gpt2Tokenizer.OpenResource("encoder.json");
        var encoder = JsonSerializer.Deserialize<Dictionary<string, int>>(encoderStream)!;
        Assert.AreEqual(50257, encoder.Count);
        string? line = merges.ReadLine();
        StringAssert.StartsWith(line, "#version");
        int rank = 256;
        while ((line = merges.ReadLine()) is not null && line.Length > 0)
        {
            string[] parts = line.Split(' ');
            Assert.AreEqual(rank++, encoder[parts[0] + parts[1]], $"merge '{line}'");
        }
        Assert.AreEqual(50256, rank);
    }

    [TestMethod]
    public void DecodingAnIdOutsideTheVocabularyThrows() =>
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Tokenizer.Decode([15496, 50257]));
}
