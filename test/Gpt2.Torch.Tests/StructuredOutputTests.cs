using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Generation.Sampling;
using Gpt2.Torch.Generation.Structured;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Json.Schema;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Constrained decoding end to end: random tiny models (GPT-2's 50,257-token vocabulary, and a Llama-family model with
/// its own byte-level tokenizer) generate under many schemas, seeds and sampling settings, and every output that
/// stopped at the end of text parses and validates against its schema with JsonSchema.Net, an independent validator.
/// </summary>
[TestClass]
public sealed class StructuredOutputTests
{
    private static Gpt2TextGenerationService _gpt2 = null!;
    private static Gpt2TextGenerationService _family = null!;
    private static string _folder = null!;
    private static readonly string[] Prompts = ["Answer in JSON:", "The record is", "{"];

    // Every supported keyword, nesting, recursion, anyOf, enums and arrays; strings are bounded (maxLength) or enums,
    // so that a random model, which rarely closes a free string, still ends its documents.
    public static readonly string[] Schemas =
    [
        """{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}""",
        """{"type":"object","properties":{"color":{"enum":["red","green","blue"]},"size":{"enum":["S","M","L"]},"ok":{"type":"boolean"}},"required":["color","size","ok"],"additionalProperties":false}""",
        """{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"integer"},"n":{"type":"null"}},"required":["x","y"]}""",
        """{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":4}""",
        """{"type":"object","properties":{"address":{"type":"object","properties":{"city":{"type":"string","maxLength":8},"zip":{"type":"string","minLength":1,"maxLength":5}},"required":["city","zip"],"additionalProperties":false}},"required":["address"],"additionalProperties":false}""",
        """{"anyOf":[{"type":"integer"},{"type":"object","properties":{"k":{"const":"v"},"w":{"type":"boolean"}},"required":["k"]}]}""",
        """{"type":"object","properties":{"nick":{"type":["string","null"],"maxLength":6},"score":{"type":["number","boolean"]}},"required":["nick","score"]}""",
        """{"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["value"],"additionalProperties":false}},"$ref":"#/$defs/node"}""",
        """{"type":"object","properties":{"version":{"const":2},"mode":{"enum":["a",1,true,null,{"deep":[1]}]}},"required":["version","mode"],"additionalProperties":false}""",
        """{"type":"array","items":{"enum":["x","y"]},"maxItems":5}""",
        """{"$schema":"http://json-schema.org/draft-07/schema#","title":"T","description":"flags","definitions":{"flag":{"type":"boolean","description":"a flag"}},"type":"object","properties":{"a":{"$ref":"#/definitions/flag"},"b":{"$ref":"#/definitions/flag"}},"required":["a"]}""",
        """{"type":"array","items":{"type":"string","maxLength":3},"maxItems":3}""",
        """{"type":"object","properties":{"tags":{"type":"array","items":{"anyOf":[{"type":"null"},{"type":"string","maxLength":2}]},"maxItems":3},"ratio":{"type":"number"}},"required":["tags"],"additionalProperties":false}""",
    ];

    private static readonly GenerationOptions[] Settings =
    [
        new() { MaxNewTokens = 120 },
        new() { MaxNewTokens = 120, Temperature = 1, Seed = 11 },
        new() { MaxNewTokens = 120, Temperature = 1, TopP = 0.9, Seed = 12 },
        new() { MaxNewTokens = 120, Temperature = 0.8, TopK = 20, Seed = 13 },
    ];

    [ClassInitialize]
    public static void CreateModels(TestContext _)
    {
        manual_seed(5);
        var gpt2 = new Gpt2Model(new Gpt2Config { ContextLength = 256, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }, CPU);
        _gpt2 = new Gpt2TextGenerationService(gpt2, Gpt2Tokenizer.Default, ownsModel: true);
        _folder = TinyFamilyModel.Write(TestPaths.NewTemporaryDirectory());
        _family = Gpt2TextGenerationService.Load(LanguageModelSource.Pretrained(_folder), CPU, DecodingEngine.TorchSharp);
    }

    [ClassCleanup]
    public static void Release()
    {
        _gpt2.Dispose();
        _family.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private static StructuredOutput Output(string schema) => StructuredOutput.ForJsonSchema(JsonDocument.Parse(schema).RootElement);

    // Whether the text is one JSON document that the schema validates, by System.Text.Json and JsonSchema.Net.
    private static void AssertValid(string schema, string text, string what)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            Assert.Fail($"{what}: the output does not parse ({e.Message}): {text}");
            return;
        }
        using (document)
        {
            EvaluationResults results = JsonSchema.FromText(schema).Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            Assert.IsTrue(results.IsValid, $"{what}: the output does not validate: {text}\n{string.Join("\n", (results.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")))}");
        }
    }

    private static void GenerateUnderEverySchema(Gpt2TextGenerationService service, string model)
    {
        int runs = 0, stopped = 0;
        foreach (string schema in Schemas)
        {
            foreach (GenerationOptions setting in Settings)
            {
                GenerationOptions options = setting with { StructuredOutput = Output(schema) };
                IReadOnlyList<TextGenerationResult> results = service.GenerateBatch(Prompts, options);
                for (int i = 0; i < results.Count; i++)
                {
                    runs++;
                    if (results[i].FinishReason != TextGenerationFinishReason.EndOfText)
                        continue;
                    stopped++;
                    AssertValid(schema, results[i].Text, $"{model}, {schema}, T={setting.Temperature} top-p={setting.TopP} top-k={setting.TopK}, prompt {i}");
                }
            }
        }
        Assert.IsGreaterThanOrEqualTo(runs * 9 / 10, stopped, $"{model}: only {stopped} of {runs} generations ended within {Settings[0].MaxNewTokens} tokens");
    }

    [TestMethod]
    public void EveryOutputOfARandomGpt2ValidatesAgainstItsSchema() => GenerateUnderEverySchema(_gpt2, "GPT-2");

    [TestMethod]
    public void EveryOutputOfARandomLlamaFamilyModelValidatesAgainstItsSchema() => GenerateUnderEverySchema(_family, "Llama family");

    [TestMethod]
    public void ARandomModelWithQwen3sVocabularyAndAddedTokensWritesValidAndFramedDocuments()
    {
        // Qwen3's 151,669 tokens (special ones such as <|im_start|> masked, added ones such as <tool_call> usable as text)
        // over 151,936 logits, the padded rows masked too.
        var config = new LlamaConfig
        {
            VocabSize = 151936, EmbeddingSize = 32, MlpSize = 64, LayerCount = 1, HeadCount = 2, KeyValueHeads = 1,
            ContextLength = 256, RopeTheta = 10000, RmsNormEpsilon = 1e-6, TieWordEmbeddings = true,
        };
        manual_seed(7);
        using var qwen = Gpt2TextGenerationService.Load(LanguageModelSource.Random(config, TokenizerFixture.Tokenizer("qwen3")), CPU, DecodingEngine.TorchSharp);
        int runs = 0, stopped = 0;
        foreach (string schema in new[] { Schemas[0], Schemas[1], Schemas[5], Schemas[7], Schemas[12] })
        {
            foreach (GenerationOptions setting in Settings.Take(2))
            {
                foreach (TextGenerationResult result in qwen.GenerateBatch(Prompts, setting with { StructuredOutput = Output(schema) }))
                {
                    runs++;
                    if (result.FinishReason != TextGenerationFinishReason.EndOfText)
                        continue;
                    stopped++;
                    AssertValid(schema, result.Text, $"Qwen3 vocabulary, {schema}, T={setting.Temperature}");
                }
            }
        }
        Assert.IsGreaterThanOrEqualTo(runs * 9 / 10, stopped, $"only {stopped} of {runs} generations ended");

        GenerationOptions framed = new() { MaxNewTokens = 80, Temperature = 1, Seed = 4, StructuredOutput = Output(Schemas[1]) with { Prefix = "<tool_call>\n", Suffix = "\n</tool_call>" } };
        foreach (TextGenerationResult result in qwen.GenerateBatch(Prompts, framed))
        {
            Assert.AreEqual(TextGenerationFinishReason.EndOfText, result.FinishReason, result.Text);
            AssertValid(Schemas[1], result.Text["<tool_call>\n".Length..^"\n</tool_call>".Length], "framed");
            Assert.AreEqual("<tool_call>\n", result.Text[.."<tool_call>\n".Length]);
            Assert.EndsWith("\n</tool_call>", result.Text);
        }
    }

    [TestMethod]
    public void TheOutputIsExactlyThePrefixTheDocumentAndTheSuffix()
    {
        const string schema = """{"type":"object","properties":{"city":{"enum":["Paris","Rome"]},"days":{"type":"integer"}},"required":["city","days"],"additionalProperties":false}""";
        foreach (Gpt2TextGenerationService service in new[] { _gpt2, _family })
        {
            GenerationOptions options = new() { MaxNewTokens = 80, Temperature = 1, Seed = 3, StructuredOutput = Output(schema) with { Prefix = "<tool_call>\n", Suffix = "\n</tool_call>" } };
            foreach (TextGenerationResult result in service.GenerateBatch(Prompts, options))
            {
                Assert.AreEqual(TextGenerationFinishReason.EndOfText, result.FinishReason, result.Text);
                Assert.StartsWith("<tool_call>\n", result.Text);
                Assert.EndsWith("\n</tool_call>", result.Text);
                AssertValid(schema, result.Text["<tool_call>\n".Length..^"\n</tool_call>".Length], "framed");
            }
        }
    }

    [TestMethod]
    public void JsonObjectModeGivesAnObject()
    {
        foreach (TextGenerationResult result in _family.GenerateBatch(Prompts, new GenerationOptions { MaxNewTokens = 200, StructuredOutput = StructuredOutput.JsonObject }))
        {
            if (result.FinishReason == TextGenerationFinishReason.EndOfText)
                Assert.AreEqual(JsonValueKind.Object, JsonDocument.Parse(result.Text).RootElement.ValueKind, result.Text);
            else
                Assert.StartsWith("{", result.Text);
        }
    }

    [TestMethod]
    public void StreamedTextIsTheReturnedText()
    {
        GenerationOptions options = new() { MaxNewTokens = 100, Temperature = 1, Seed = 9, StructuredOutput = Output(Schemas[4]) };
        string whole = _gpt2.Generate(Prompts[0], options).Text;
        var streamed = new System.Text.StringBuilder();
        foreach (string piece in _gpt2.GenerateStreamingAsync(Prompts[0], options).ToBlockingEnumerable())
            streamed.Append(piece);
        Assert.AreEqual(whole, streamed.ToString());
        AssertValid(Schemas[4], whole, "streamed");
    }

    [TestMethod]
    public void ASchemaOutsideTheSubsetFailsBeforeAnyDecoding()
    {
        GenerationOptions options = new() { StructuredOutput = Output("""{"type":"object","properties":{"when":{"type":"string","format":"date-time"}}}""") };
        var e = Assert.ThrowsExactly<NotSupportedException>(() => _gpt2.Generate(Prompts[0], options));
        StringAssert.Contains(e.Message, "'format' at #/properties/when");
        var ignored = Assert.ThrowsExactly<ArgumentException>(() => _gpt2.Generate(Prompts[0], new GenerationOptions { StructuredOutput = StructuredOutput.JsonObject, StopAtEndOfText = false }));
        Assert.AreEqual(nameof(GenerationOptions.StopAtEndOfText), ignored.ParamName);
    }

    [TestMethod]
    public void GreedyRowsUnderAConstraintLeaveThePlainGreedyFastPath()
    {
        using var sampler = new TokenSampler(new GenerationOptions { StructuredOutput = StructuredOutput.JsonObject }, CPU, Gpt2Tokenizer.Default);
        Assert.IsFalse(sampler.IsPlainGreedy);
        Assert.ThrowsExactly<ArgumentException>(() => new TokenSampler(new GenerationOptions { StructuredOutput = StructuredOutput.JsonObject }, CPU));
    }

    [TestMethod]
    public void TheMaskAllowsOnlyWhatContinuesAndEndsWithTheEndOfText()
    {
        using var scope = NewDisposeScope();
        LanguageModelTokenizer tokenizer = Gpt2Tokenizer.Default;
        var processor = new StructuredOutputProcessor(Output("""{"enum":["yes","no"]}"""), tokenizer);
        using var history = new RowHistory();
        int width = tokenizer.VocabSize + 47;   // padded logits
        int[] prompt = tokenizer.Encode("Q:");
        var tokens = new List<int>(prompt);
        var allowed = new List<string>();
        foreach (string piece in new[] { "\"", "yes", "\"" })
        {
            history.Update(tokens, prompt.Length);
            float[] masked = processor.Process(zeros(1, width), history).data<float>().ToArray();
            Assert.IsTrue(masked.Skip(tokenizer.VocabSize).All(float.IsNegativeInfinity), "ids beyond the vocabulary");
            Assert.IsTrue(float.IsNegativeInfinity(masked[tokenizer.EndOfTextId]), "the end of text before the document ends");
            foreach (int id in Enumerable.Range(0, tokenizer.VocabSize).Where(id => !float.IsNegativeInfinity(masked[id])))
            {
                string text = tokenizer.Decode([.. tokens.Skip(prompt.Length), id]);
                Assert.IsTrue("\"yes\"".StartsWith(text, StringComparison.Ordinal) || "\"no\"".StartsWith(text, StringComparison.Ordinal), $"'{text}' was allowed");
            }
            tokens.AddRange(tokenizer.Encode(piece));
        }
        history.Update(tokens, prompt.Length);
        float[] last = processor.Process(zeros(1, width), history).data<float>().ToArray();
        CollectionAssert.AreEqual(new[] { tokenizer.EndOfTextId }, Enumerable.Range(0, width).Where(id => !float.IsNegativeInfinity(last[id])).ToArray(), "only the end of text once the document is whole");
    }

    [TestMethod]
    public void BothEnginesGiveTheSameGreedyOutputUnderTheConstraint()
    {
        using var onnx = Gpt2TextGenerationService.Load(LanguageModelSource.Pretrained(_folder), CPU, DecodingEngine.OnnxRuntime());
        foreach (string schema in Schemas.Take(6))
        {
            GenerationOptions options = new() { MaxNewTokens = 60, StructuredOutput = Output(schema) };
            string[] torch = [.. _family.GenerateBatch(Prompts, options).Select(result => result.Text)];
            IReadOnlyList<TextGenerationResult> ort = onnx.GenerateBatch(Prompts, options);
            CollectionAssert.AreEqual(torch, ort.Select(result => result.Text).ToArray(), schema);
            foreach (TextGenerationResult result in ort.Where(result => result.FinishReason == TextGenerationFinishReason.EndOfText))
                AssertValid(schema, result.Text, "ONNX Runtime");
        }
    }

    [TestMethod]
    public void CachesStayBoundedOverManyRequests()
    {
        TokenTrie trie = TokenTrie.For(_family.Tokenizer);
        int[] tokens = _family.Tokenizer.Encode("\"" + new string('a', TokenMasks.MaxCapacity + 10));
        for (int i = 0; i <= JsonGrammar.CacheCapacity; i++)
        {
            // A new grammar for each request, and strings long enough to visit more states than the mask cache keeps
            // (each character of a string with a maxLength is a state of its own).
            JsonGrammar grammar = JsonGrammar.For(Output($$"""{"type":"string","maxLength":{{2000 - i}}}"""));
            TokenMasks masks = grammar.MasksFor(trie);
            RecognizerState state = masks.Automaton.Start;
            foreach (int token in tokens)
            {
                masks.Allowed(state);
                state = masks.Advance(state, token);
            }
            Assert.AreEqual(masks.Capacity, masks.Count);
        }
        Assert.AreEqual(JsonGrammar.CacheCapacity, JsonGrammar.CachedCount);

        // A document of more states than the automaton memoizes: it starts afresh on the way and still reads it whole.
        string document = $"\"{new string('a', GrammarAutomaton.MaxStates)}\"";
        GrammarAutomaton automaton = JsonGrammar.For(Output($$"""{"type":"string","maxLength":{{GrammarAutomaton.MaxStates}}}""")).Automaton;
        lock (automaton.Gate)
        {
            RecognizerState? at = automaton.Start;
            int restarts = automaton.Restarts;
            foreach (byte value in System.Text.Encoding.UTF8.GetBytes(document))
            {
                at = automaton.Next(at!, value);
                Assert.IsNotNull(at);
                Assert.IsLessThanOrEqualTo(GrammarAutomaton.MaxStates, automaton.StateCount);
            }
            Assert.IsTrue(at!.IsComplete);
            Assert.IsGreaterThan(restarts, automaton.Restarts, "the automaton filled up and started afresh");
        }
    }
}
