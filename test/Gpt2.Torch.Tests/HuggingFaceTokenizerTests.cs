using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Tests;

/// <summary>
/// HuggingFaceTokenizer against the published Qwen3 and Llama 3 tokenizers, with the ids of the JavaScript port of Hugging
/// Face tokenizers as the oracle (Fixtures/tokenizers), and its refusals on small hand-written tokenizer.json files.
/// </summary>
[TestClass]
public sealed class HuggingFaceTokenizerTests : TemporaryDirectoryTest
{
    private const string Qwen = "qwen3";
    private const string Llama = "llama3";

    // --- The oracle's ids --------------------------------------------------------------------------------------------

    [TestMethod]
    [DataRow(Qwen)]
    [DataRow(Llama)]
    public void EveryFixtureTextEncodesToTheOraclesIdsWithSpecialTokensAsTextAndAsTokens(string name)
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(name);
        var failures = new List<string>();
        foreach (TokenizerFixture.Case c in TokenizerFixture.ReadCases(name).Cases)
        {
            Compare(failures, c.Text, "allowSpecialTokens: false", c.Ids, tokenizer.Encode(c.Text));
            Compare(failures, c.Text, "allowSpecialTokens: true", c.IdsAllowSpecial, tokenizer.Encode(c.Text, allowSpecialTokens: true));
        }
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod]
    [DataRow(Qwen)]
    [DataRow(Llama)]
    public void EverySmsMessageAndTheVerdictEncodeToTheOraclesIds(string name)
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(name);
        TokenizerFixture.Corpus corpus = TokenizerFixture.ReadCorpus(name);
        string[] messages = [.. File.ReadAllLines(TestPaths.Data("SMSSpamCollection")).Where(l => l.Length > 0).Select(l => l[(l.IndexOf('\t') + 1)..])];
        Assert.HasCount(messages.Length, corpus.Messages);
        var failures = new List<string>();
        for (int i = 0; i < messages.Length; i++)
            Compare(failures, messages[i], $"SMS line {i + 1}", corpus.Messages[i], tokenizer.Encode(messages[i]));
        Compare(failures, "the-verdict.txt", "whole file", corpus.Verdict, tokenizer.Encode(File.ReadAllText(TestPaths.Data("the-verdict.txt"))));
        Assert.IsEmpty(failures, $"{failures.Count} texts differ:\n" + string.Join("\n", failures.Take(20)));
    }

    [TestMethod]
    [DataRow(Qwen, "ByteLevel")]
    [DataRow(Qwen, "ByteLevel add_prefix_space")]
    [DataRow(Qwen, "Digits, ByteLevel")]
    [DataRow(Llama, "ByteLevel")]
    [DataRow(Llama, "ByteLevel add_prefix_space")]
    [DataRow(Llama, "Digits, ByteLevel")]
    public void GPT2sByteLevelPreTokenizerWithAndWithoutPrefixSpaceAndSmolLM2sDigitsThenByteLevelGiveTheOraclesIds(string name, string variant)
    {
        TokenizerFixture.PreTokenizerVariant oracle = TokenizerFixture.ReadCases(name).PreTokenizerVariants.Single(v => v.Name == variant);
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Load(name, json =>
        {
            json["pre_tokenizer"] = JsonNode.Parse(oracle.PreTokenizer.GetRawText());
            return json;
        });
        var failures = new List<string>();
        foreach (TokenizerFixture.TextIds c in oracle.Cases)
            Compare(failures, c.Text, variant, c.IdsAllowSpecial, tokenizer.Encode(c.Text, allowSpecialTokens: true));
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod]
    [DataRow(Qwen)]
    [DataRow(Llama)]
    public void ThePostProcessorOfTheseFilesAddsNoBeginningOfTextToken(string name)
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(name);
        Assert.IsNull(tokenizer.BeginningOfTextId);
        foreach (TokenizerFixture.Case c in TokenizerFixture.ReadCases(name).Cases)
            CollectionAssert.AreEqual(c.IdsAddSpecial, tokenizer.Encode(c.Text, allowSpecialTokens: true), c.Text);
    }

    [TestMethod]
    public void Llama31sTemplateProcessingGivesItsFirstTokenAsBeginningOfTextAndEncodeStillAddsNothing()
    {
        TokenizerFixture.Llama31 oracle = TokenizerFixture.ReadCases(Llama).Llama31!;
        HuggingFaceTokenizer tokenizer = TokenizerFixture.LoadLlama31();

        Assert.AreEqual(128000, tokenizer.BeginningOfTextId);
        foreach (TokenizerFixture.TemplateCase c in oracle.Cases)
        {
            int[] ids = tokenizer.Encode(c.Text, allowSpecialTokens: true);
            CollectionAssert.AreEqual(c.IdsAddSpecial, (int[])[tokenizer.BeginningOfTextId!.Value, .. ids], c.Text);
        }
        Assert.IsEmpty(tokenizer.Encode(""), "Encode adds no beginning-of-text token");

        Assert.AreEqual(oracle.EosTokenId, tokenizer.EndOfTextId);
        Assert.AreEqual("<|eot_id|>", tokenizer.EndOfText);
        CollectionAssert.AreEqual(new[] { 128001 }, tokenizer.EndOfTurnIds.ToArray(), "<|end_of_text|> still ends a text when eos is <|eot_id|>");
    }

    // --- Decoding ----------------------------------------------------------------------------------------------------

    [TestMethod]
    [DataRow(Qwen, true)]
    [DataRow(Llama, false)]
    public void DecodeGivesBackTheTextAsTheOracleDoesNormalizedWhereTheTokenizerNormalizes(string name, bool normalizesNfc)
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(name);
        foreach (TokenizerFixture.Case c in TokenizerFixture.ReadCases(name).Cases)
        {
            string expected = normalizesNfc ? c.Text.Normalize(NormalizationForm.FormC) : c.Text;
            Assert.AreEqual(expected, c.Decoded, $"the oracle's decoding of '{c.Text}'");
            Assert.AreEqual(expected, tokenizer.Decode(tokenizer.Encode(c.Text, allowSpecialTokens: true)), c.Text);
            Assert.AreEqual(expected, tokenizer.Decode(tokenizer.Encode(c.Text)), c.Text);
        }
    }

    [TestMethod]
    public void QwenNormalizesDecomposedAccentsToTheComposedFormBeforeEncoding()
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(Qwen);
        string composed = "café naïve résumé", decomposed = "cafe\u0301 nai\u0308ve re\u0301sume\u0301";
        CollectionAssert.AreEqual(tokenizer.Encode(composed), tokenizer.Encode(decomposed));
        // Llama 3 has no normalizer: the decomposed form is other bytes, so other tokens.
        HuggingFaceTokenizer llama = TokenizerFixture.Tokenizer(Llama);
        CollectionAssert.AreNotEqual(llama.Encode(composed), llama.Encode(decomposed));
    }

    [TestMethod]
    [DataRow(Qwen)]
    [DataRow(Llama)]
    public void TokenBytesAreTheRawBytesOfEachTokenWhoseConcatenationIsTheDecodedText(string name)
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(name);
        bool sawPartialCharacter = false;
        foreach (TokenizerFixture.Case c in TokenizerFixture.ReadCases(name).Cases)
        {
            var bytes = new List<byte>();
            foreach (int id in c.IdsAllowSpecial)
            {
                byte[] token = tokenizer.TokenBytes(id).ToArray();
                sawPartialCharacter |= !IsValidUtf8(token);
                bytes.AddRange(token);
            }
            CollectionAssert.AreEqual(Encoding.UTF8.GetBytes(c.Decoded), bytes.ToArray(), c.Text);
        }
        Assert.IsTrue(sawPartialCharacter, "emoji and CJK text must hold tokens that are part of a UTF-8 character");
        Assert.AreEqual("<|im_end|>", Encoding.UTF8.GetString(TokenizerFixture.Tokenizer(Qwen).TokenBytes(151645)));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => tokenizer.TokenBytes(tokenizer.VocabSize));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => tokenizer.Decode([-1]));
    }

    // --- What tokenizer_config.json says ----------------------------------------------------------------------------

    [TestMethod]
    public void QwenReadsItsEndOfTextPaddingEndOfTurnAndChatTemplate()
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(Qwen);
        TokenizerFixture.CaseFile oracle = TokenizerFixture.ReadCases(Qwen);
        Assert.AreEqual(151669, tokenizer.VocabSize);
        Assert.AreEqual(oracle.EosTokenId, tokenizer.EndOfTextId);
        Assert.AreEqual("<|im_end|>", tokenizer.EndOfText);
        Assert.AreEqual(oracle.PadTokenId, tokenizer.PaddingId);
        Assert.AreEqual(151643, tokenizer.PaddingId);
        CollectionAssert.AreEqual(new[] { 151643 }, tokenizer.EndOfTurnIds.ToArray(), "<|endoftext|> ends a text besides eos <|im_end|>");
        Assert.IsNotNull(tokenizer.ChatTemplate);
        StringAssert.Contains(tokenizer.ChatTemplate, "<|im_start|>");
        Assert.IsNull(tokenizer.BeginningOfTextId);
    }

    [TestMethod]
    public void LlamaReadsItsEndOfTextPaddingEndOfTurnAndChatTemplate()
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(Llama);
        TokenizerFixture.CaseFile oracle = TokenizerFixture.ReadCases(Llama);
        Assert.AreEqual(128256, tokenizer.VocabSize);
        Assert.AreEqual(oracle.EosTokenId, tokenizer.EndOfTextId);
        Assert.AreEqual("<|end_of_text|>", tokenizer.EndOfText);
        Assert.AreEqual(oracle.PadTokenId, tokenizer.PaddingId, "no pad_token: padding is eos");
        CollectionAssert.AreEqual(new[] { 128009 }, tokenizer.EndOfTurnIds.ToArray(), "<|eot_id|> ends a turn");
        Assert.IsNotNull(tokenizer.ChatTemplate);
        StringAssert.Contains(tokenizer.ChatTemplate, "<|start_header_id|>");
    }

    [TestMethod]
    [DataRow(Qwen)]
    [DataRow(Llama)]
    public void TheMicrosoftMLTokenizerRecognisesEveryAddedTokenAndGivesEncodesIds(string name)
    {
        HuggingFaceTokenizer tokenizer = TokenizerFixture.Tokenizer(name);
        foreach (TokenizerFixture.Case c in TokenizerFixture.ReadCases(name).Cases)
            CollectionAssert.AreEqual(c.IdsAllowSpecial, tokenizer.Tokenizer.EncodeToIds(c.Text).ToArray(), c.Text);
    }

    // --- Small hand-written files: what is read, and what is refused by name -----------------------------------------

    [TestMethod]
    public void ASmallFileMergesInOrderKeepsNonSpecialAddedTokensAlwaysAndSpecialOnesOnlyWhenAllowed()
    {
        HuggingFaceTokenizer tokenizer = LoadSmall(SmallTokenizerJson());
        Assert.AreEqual(260, tokenizer.VocabSize);
        CollectionAssert.AreEqual(new[] { 256, 257, Byte('o') }, tokenizer.Encode("hello"));
        CollectionAssert.AreEqual(new[] { 258 }, tokenizer.Encode("<|endoftext|>", allowSpecialTokens: true));
        CollectionAssert.AreNotEqual(new[] { 258 }, tokenizer.Encode("<|endoftext|>"));
        Assert.AreEqual("<|endoftext|>", tokenizer.Decode(tokenizer.Encode("<|endoftext|>")));
        CollectionAssert.AreEqual(new[] { 259, 256 }, tokenizer.Encode("<x>he"), "non-special added tokens are always recognised");
        Assert.AreEqual(258, tokenizer.EndOfTextId);
        Assert.IsNull(tokenizer.ChatTemplate);
    }

    [TestMethod]
    public void ByteLevelsAddPrefixSpacePutsASpaceBeforeEachStretchBetweenAddedTokens()
    {
        JsonObject json = SmallTokenizerJson();
        json["pre_tokenizer"]!["add_prefix_space"] = true;
        HuggingFaceTokenizer tokenizer = LoadSmall(json);
        CollectionAssert.AreEqual(new[] { Byte(' '), 256 }, tokenizer.Encode("he"));
        CollectionAssert.AreEqual(new[] { Byte(' '), 256 }, tokenizer.Encode(" he"), "no second space");
        CollectionAssert.AreEqual(new[] { Byte(' '), 256, 259, Byte(' '), 256 }, tokenizer.Encode("he<x>he"));
    }

    [TestMethod]
    public void ATokenizerConfigNamesTheTokensAndAListOfChatTemplatesGivesTheDefaultOne()
    {
        var config = new JsonObject
        {
            ["eos_token"] = new JsonObject { ["content"] = "<|endoftext|>", ["special"] = true },
            ["pad_token"] = "<x>",
            ["chat_template"] = new JsonArray(
                new JsonObject { ["name"] = "tool_use", ["template"] = "tools" },
                new JsonObject { ["name"] = "default", ["template"] = "{{ messages }}" }),
            ["added_tokens_decoder"] = new JsonObject { ["260"] = new JsonObject { ["content"] = "<|im_end|>", ["special"] = true } },
        };
        HuggingFaceTokenizer tokenizer = LoadSmall(SmallTokenizerJson(), config);
        Assert.AreEqual(258, tokenizer.EndOfTextId);
        Assert.AreEqual(259, tokenizer.PaddingId);
        Assert.AreEqual("{{ messages }}", tokenizer.ChatTemplate);
        Assert.AreEqual(261, tokenizer.VocabSize, "added_tokens_decoder adds <|im_end|>");
        CollectionAssert.AreEqual(new[] { 260 }, tokenizer.EndOfTurnIds.ToArray());
        CollectionAssert.AreEqual(new[] { 260 }, tokenizer.Encode("<|im_end|>", allowSpecialTokens: true));
    }

    [TestMethod]
    public void LoadingAFolderReadsGenerationConfigsEndIdsAndChatTemplateJinjaBeforeTheConfigsTemplate()
    {
        File.WriteAllText(Path.Combine(Directory, "tokenizer.json"), SmallTokenizerJson().ToJsonString());
        File.WriteAllText(Path.Combine(Directory, "generation_config.json"), """{"eos_token_id": [258, 259]}""");
        File.WriteAllText(Path.Combine(Directory, "chat_template.jinja"), "{% for m in messages %}{{ m.content }}{% endfor %}");
        File.WriteAllText(Path.Combine(Directory, "tokenizer_config.json"), """{"chat_template": "the older template"}""");
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.Load(Directory);
        Assert.AreEqual(258, tokenizer.EndOfTextId);
        CollectionAssert.AreEqual(new[] { 259 }, tokenizer.EndOfTurnIds.ToArray());
        Assert.AreEqual("{% for m in messages %}{{ m.content }}{% endfor %}", tokenizer.ChatTemplate);

        File.Delete(Path.Combine(Directory, "tokenizer.json"));
        Assert.ThrowsExactly<FileNotFoundException>(() => HuggingFaceTokenizer.Load(Directory));
    }

    [TestMethod]
    [DataRow("model.type", "\"Unigram\"", "model.type 'Unigram'")]
    [DataRow("model.type", "\"WordPiece\"", "model.type 'WordPiece'")]
    [DataRow("model.byte_fallback", "true", "model.byte_fallback")]
    [DataRow("model.dropout", "0.1", "model.dropout")]
    [DataRow("model.continuing_subword_prefix", "\"##\"", "model.continuing_subword_prefix")]
    [DataRow("model.end_of_word_suffix", "\"</w>\"", "model.end_of_word_suffix")]
    [DataRow("model.merges", """["h x"]""", "model.merges[0]")]
    [DataRow("model.merges", """["h e l"]""", "model.merges[0]")]
    [DataRow("normalizer", """{"type": "Lowercase"}""", "normalizer 'Lowercase'")]
    [DataRow("normalizer", """{"type": "NFD"}""", "normalizer 'NFD'")]
    [DataRow("pre_tokenizer", """{"type": "Metaspace", "replacement": "▁"}""", "pre_tokenizer 'Metaspace'")]
    [DataRow("pre_tokenizer", """{"type": "ByteLevel", "use_regex": false}""", "use_regex false")]
    [DataRow("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}""", "behavior 'Removed'")]
    [DataRow("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": true}, {"type": "ByteLevel", "use_regex": false}]}""", "invert")]
    [DataRow("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}""", "pattern.Regex")]
    [DataRow("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "ByteLevel"}]}""", "[Whitespace, ByteLevel]")]
    [DataRow("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": false}, {"type": "ByteLevel"}]}""", "individual_digits false")]
    [DataRow("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": true}]}""", "add_prefix_space true")]
    [DataRow("decoder", """{"type": "Metaspace"}""", "decoder 'Metaspace'")]
    [DataRow("post_processor", """{"type": "RobertaProcessing"}""", "post_processor 'RobertaProcessing'")]
    [DataRow("post_processor", """{"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}]}""", "tokens after the text")]
    [DataRow("added_tokens", """[{"id": 258, "content": "<|endoftext|>", "special": true, "lstrip": true}]""", "lstrip")]
    public void UnsupportedTokenizerJsonFieldsAreRefusedByName(string field, string value, string expectedInMessage)
    {
        JsonObject json = SmallTokenizerJson();
        string[] path = field.Split('.');
        JsonObject parent = path.Length == 2 ? json[path[0]]!.AsObject() : json;
        parent[path[^1]] = JsonNode.Parse(value);

        var error = Assert.ThrowsExactly<InvalidDataException>(() => LoadSmall(json));
        StringAssert.Contains(error.Message, expectedInMessage);
        StringAssert.StartsWith(error.Message, "tokenizer.json: ");
    }

    [TestMethod]
    public void WithoutIgnoreMergesTheMergesOrderDecidesAndWithItMergesOutOfIdOrderAreRefused()
    {
        // "el" (id 260) is merged before "he" (id 256): by merge rank "hel" is h + el, by token id it would be he + l.
        JsonObject json = SmallTokenizerJson();
        json["model"]!["vocab"]!["el"] = 260;
        json["model"]!["merges"] = new JsonArray("e l", "h e");
        CollectionAssert.AreEqual(new[] { Byte('h'), 260 }, LoadSmall(json).Encode("hel"));

        json["model"]!["ignore_merges"] = true;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => LoadSmall(json)).Message, "model.merges[1] ('h', 'e') makes id 256 after a merge made id 260");
    }

    [TestMethod]
    public void AVocabularyWithoutAllTheBytesOrATokenOutsideTheByteLevelAlphabetIsRefused()
    {
        JsonObject json = SmallTokenizerJson();
        json["model"]!["vocab"]!.AsObject().Remove("Ā");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => LoadSmall(json)).Message, "byte 0");

        json = SmallTokenizerJson();
        json["model"]!["vocab"]!["▁the"] = 300;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => LoadSmall(json)).Message, "'▁the' (id 300)");
    }

    [TestMethod]
    public void AConfigNamingATokenTheTokenizerLacksIsRefusedByName()
    {
        var config = new JsonObject { ["eos_token"] = "<|nope|>" };
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => LoadSmall(SmallTokenizerJson(), config)).Message, "eos_token '<|nope|>'");
        config = new JsonObject { ["added_tokens_decoder"] = new JsonObject { ["258"] = new JsonObject { ["content"] = "<|other|>" } } };
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => LoadSmall(SmallTokenizerJson(), config)).Message, "added_tokens_decoder gives id 258");
    }

    // The 256 byte tokens in GPT-2's order, "he" and "ll" from two merges, then <|endoftext|> (special) and <x> (not).
    private static JsonObject SmallTokenizerJson()
    {
        var vocab = new JsonObject();
        for (int id = 0; id < 256; id++)
            vocab[ByteLevelAlphabet.ByteTokens[id]] = id;
        vocab["he"] = 256;
        vocab["ll"] = 257;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = 258, ["content"] = "<|endoftext|>", ["special"] = true, ["lstrip"] = false, ["rstrip"] = false, ["single_word"] = false, ["normalized"] = false },
                new JsonObject { ["id"] = 259, ["content"] = "<x>", ["special"] = false, ["normalized"] = false }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray("h e", new JsonArray("l", "l")),
            },
        };
    }

    private static HuggingFaceTokenizer LoadSmall(JsonObject tokenizerJson, JsonObject? config = null)
    {
        using var json = new MemoryStream(Encoding.UTF8.GetBytes(tokenizerJson.ToJsonString()));
        using var configStream = config is null ? null : new MemoryStream(Encoding.UTF8.GetBytes(config.ToJsonString()));
        return HuggingFaceTokenizer.Load(json, configStream);
    }

    private static int Byte(char c) => ByteLevelAlphabet.ByteTokenIds[c];

    private static void Compare(List<string> failures, string text, string how, int[] expected, int[] actual)
    {
        if (!expected.AsSpan().SequenceEqual(actual))
            failures.Add($"{JsonSerializer.Serialize(text.Length > 80 ? text[..80] + "..." : text)} ({how}): expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
    }

    private static bool IsValidUtf8(byte[] bytes) => System.Text.Unicode.Utf8.IsValid(bytes);
}
