using System.Text;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Generation.Structured;

namespace Gpt2.Torch.Tests;

/// <summary>
/// The recognizer a JSON Schema compiles to, byte by byte on hand-written documents: every prefix of a document the
/// schema validates is a live state and the document itself is complete; documents the schema rejects die or stay
/// incomplete; keywords outside the subset are refused by name and place.
/// </summary>
[TestClass]
public sealed class JsonSchemaGrammarTests
{
    private static StructuredOutput Output(string schema, string prefix = "", string suffix = "") =>
        StructuredOutput.ForJsonSchema(JsonDocument.Parse(schema).RootElement) with { Prefix = prefix, Suffix = suffix };

    // The state after each byte of the text, null once a byte cannot follow.
    private static RecognizerState? Read(StructuredOutput output, string text, out int readBytes)
    {
        GrammarAutomaton automaton = JsonGrammar.For(output).Automaton;
        lock (automaton.Gate)
        {
            RecognizerState? state = automaton.Start;
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            for (readBytes = 0; readBytes < bytes.Length; readBytes++)
            {
                state = automaton.Next(state, bytes[readBytes]);
                if (state is null)
                    return null;
            }
            return state;
        }
    }

    private static void AssertAccepts(StructuredOutput output, params string[] documents)
    {
        foreach (string document in documents)
        {
            RecognizerState? state = Read(output, document, out int read);
            Assert.IsNotNull(state, $"{document}: refused at byte {read} ('{document[..Math.Min(read, document.Length)]}' | ...)");
            Assert.IsTrue(state.IsComplete, $"{document}: every byte was read but the document is not complete");
        }
    }

    private static void AssertAccepts(string schema, params string[] documents) => AssertAccepts(Output(schema), documents);

    private static void AssertRejects(string schema, params string[] documents)
    {
        foreach (string document in documents)
        {
            RecognizerState? state = Read(Output(schema), document, out _);
            Assert.IsFalse(state is { IsComplete: true }, $"{document} was accepted by {schema}");
        }
    }

    [TestMethod]
    public void ObjectsTakeTheirListedPropertiesInOrderWithRequiredOnesAlways()
    {
        const string schema = """
            {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}}},
             "required":["name","age"],"additionalProperties":false}
            """;
        AssertAccepts(schema, """{"name":"Ann","age":31}""", """{"name": "Ann", "age": -7, "tags": []}""", """{"name":"","age":0,"tags":["a", "b"]}""");
        AssertRejects(schema,
            """{"age":31,"name":"Ann"}""",          // out of order
            """{"name":"Ann"}""",                   // a required property missing
            """{"name":"Ann","age":31,"x":1}""",    // not listed
            """{"name":"Ann","age":3.5}""",         // not an integer
            """{"name":"Ann","age":031}""",         // a leading zero
            """{"name":"Ann","age":1}  """,         // whitespace after the document
            """{ "name":"Ann","age":1}""",          // whitespace after '{'
            """{"name":"Ann",  "age":1}""");        // two spaces
    }

    [TestMethod]
    public void OptionalPropertiesMayBeLeftOutAnywhere()
    {
        const string schema = """{"properties":{"a":{"type":"boolean"},"b":{"type":"null"},"c":{"type":"number"}}}""";
        AssertAccepts(schema, "{}", """{"a":true}""", """{"b":null}""", """{"c":1.5e-3}""", """{"a":false,"c":-0.25}""", """{"a":true,"b":null,"c":10}""");
        AssertRejects(schema, """{"c":1,"a":true}""", """{"a":true,}""", """{,"a":true}""", """{"c":1.}""", """{"c":.5}""", """{"c":1e}""");
    }

    [TestMethod]
    public void StringsTakeEscapesAndValidUtf8Only()
    {
        AssertAccepts("""{"type":"string"}""", "\"\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\u20AC\"", "\"é€😀\"");
        AssertRejects("""{"type":"string"}""", "\"a\nb\"", "\"\\x\"", "\"\\ud83d\\ude00\"", "\"\\u12\"", "\"abc");
        // Malformed UTF-8 can only come through bytes: an overlong form, a lone continuation byte, a surrogate's encoding.
        GrammarAutomaton automaton = JsonGrammar.For(Output("""{"type":"string"}""")).Automaton;
        foreach (byte[] bad in new[] { new byte[] { 0xC0, 0xAF }, [0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x80, 0x80] })
        {
            lock (automaton.Gate)
            {
                RecognizerState? state = automaton.Next(automaton.Start, (byte)'"');
                foreach (byte value in bad)
                    state = state is null ? null : automaton.Next(state, value);
                Assert.IsNull(state, $"bytes {Convert.ToHexString(bad)} were taken");
            }
        }
    }

    [TestMethod]
    public void StringLengthsCountCharacters()
    {
        const string schema = """{"type":"string","minLength":2,"maxLength":3}""";
        AssertAccepts(schema, "\"ab\"", "\"abc\"", "\"é😀\"", "\"\\n\\u0041z\"");
        AssertRejects(schema, "\"a\"", "\"abcd\"", "\"😀\"", "\"\"");
    }

    [TestMethod]
    public void NumbersAndIntegersAreBoundedSoThatTheyEnd()
    {
        AssertAccepts("""{"type":"number"}""", "0", "-0", "12.5", "1E+10", "-3e-2", "123456789012345", "0.123456789012345");
        AssertRejects("""{"type":"number"}""", "01", "+1", "1.", "1e", "1e123", "1234567890123456", "0.1234567890123456", "NaN");
        AssertAccepts("""{"type":"integer"}""", "0", "-12", "999");
        AssertRejects("""{"type":"integer"}""", "1.0", "1e3", "-", "--1");
    }

    [TestMethod]
    public void EnumConstAndTypeArraysAreAlternatives()
    {
        AssertAccepts("""{"enum":["red","green",3,null,{"a":[1,2]}]}""", "\"red\"", "\"green\"", "3", "null", """{"a":[1,2]}""");
        AssertRejects("""{"enum":["red","green"]}""", "\"blue\"", "\"re\"", "\"redd\"");
        AssertAccepts("""{"const":"only"}""", "\"only\"");
        AssertRejects("""{"const":"only"}""", "\"other\"");
        AssertAccepts("""{"type":["string","null"]}""", "null", "\"x\"");
        AssertRejects("""{"type":["string","null"]}""", "1", "true");
        AssertAccepts("""{"type":"string","enum":["a",1]}""", "\"a\"");
        AssertRejects("""{"type":"string","enum":["a",1]}""", "1");
    }

    [TestMethod]
    public void AnyOfTriesEveryAlternativeTogether()
    {
        // Both alternatives start alike ({"k":...): the recognizer keeps both until a byte decides.
        const string schema = """{"anyOf":[{"type":"object","properties":{"k":{"type":"string"}},"required":["k"]},{"type":"object","properties":{"k":{"type":"integer"},"n":{"type":"boolean"}},"required":["k","n"]}]}""";
        AssertAccepts(schema, """{"k":"x"}""", """{"k":5,"n":true}""");
        AssertRejects(schema, """{"k":5}""", """{"k":"x","n":true}""");
    }

    [TestMethod]
    public void ArraysCountTheirItems()
    {
        const string schema = """{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""";
        AssertAccepts(schema, "[1]", "[1,2]", "[1, 2, 3]");
        AssertRejects(schema, "[]", "[1,2,3,4]", "[1,]", "[\"a\"]");
        AssertAccepts("""{"type":"array"}""", "[]", """[1,"a",[null],{"b":false}]""");
    }

    [TestMethod]
    public void RefsResolveInsideTheSchemaAndMayRecurse()
    {
        const string tree = """
            {"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},
             "children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["value"],"additionalProperties":false}}}
            """;
        AssertAccepts(tree, """{"value":1}""", """{"value":1,"children":[{"value":2},{"value":3,"children":[{"value":4,"children":[]}]}]}""");
        AssertRejects(tree, """{"value":1,"children":[{}]}""", """{"children":[]}""");
        AssertAccepts("""{"type":"object","properties":{"next":{"$ref":"#"}}}""", "{}", """{"next":{"next":{}}}""");
        AssertAccepts("""{"definitions":{"a":{"type":"boolean"}},"type":"array","items":{"$ref":"#/definitions/a"}}""", "[true,false]");
    }

    [TestMethod]
    public void AdditionalPropertiesWithoutPropertiesMakeAMap()
    {
        AssertAccepts("""{"type":"object","additionalProperties":{"type":"integer"}}""", "{}", """{"a":1,"b": 2}""");
        AssertRejects("""{"type":"object","additionalProperties":{"type":"integer"}}""", """{"a":"x"}""");
        AssertAccepts("""{"type":"object","additionalProperties":false}""", "{}");
        AssertRejects("""{"type":"object","additionalProperties":false}""", """{"a":1}""");
    }

    [TestMethod]
    public void NoSchemaMeansAnyObjectAndPrefixAndSuffixFrameIt()
    {
        AssertAccepts(StructuredOutput.JsonObject, "{}", """{"a":[1,{"b":null}],"c":"d"}""");
        Assert.IsNull(Read(StructuredOutput.JsonObject, "[]", out _), "a document that is not an object");
        StructuredOutput framed = Output("""{"type":"boolean"}""", "<tool_call>\n", "\n</tool_call>");
        AssertAccepts(framed, "<tool_call>\ntrue\n</tool_call>");
        Assert.IsNull(Read(framed, "true", out _), "the prefix comes first");
        Assert.IsFalse(Read(framed, "<tool_call>\ntrue", out _)!.IsComplete, "the suffix is part of the output");
    }

    [TestMethod]
    public void EveryLiveStateCanStillComplete()
    {
        // A required property that recurses forever is cut; an optional one stays usable.
        AssertAccepts("""{"type":"object","properties":{"a":{"type":"integer"},"loop":{"$ref":"#"}},"required":["a"]}""", """{"a":1,"loop":{"a":2}}""");
        var e = Assert.ThrowsExactly<ArgumentException>(() => JsonGrammar.For(Output("""{"type":"object","properties":{"loop":{"$ref":"#"}},"required":["loop"]}""")));
        StringAssert.Contains(e.Message, "no finite document");
    }

    [TestMethod]
    [DataRow("""{"type":"string","pattern":"^a+$"}""", "pattern", "#")]
    [DataRow("""{"type":"string","format":"date-time"}""", "format", "#")]
    [DataRow("""{"oneOf":[{"type":"string"}]}""", "oneOf", "#")]
    [DataRow("""{"allOf":[{"type":"string"}]}""", "allOf", "#")]
    [DataRow("""{"not":{"type":"string"}}""", "not", "#")]
    [DataRow("""{"if":{"type":"string"},"then":{}}""", "if", "#")]
    [DataRow("""{"type":"object","patternProperties":{"^a":{}}}""", "patternProperties", "#")]
    [DataRow("""{"type":"object","properties":{"n":{"type":"integer","minimum":3}}}""", "minimum", "#/properties/n")]
    [DataRow("""{"type":"array","items":{"type":"object","properties":{"d":{"type":"string","format":"uuid"}}}}""", "format", "#/items/properties/d")]
    [DataRow("""{"$defs":{"x":{"type":"number","multipleOf":2}},"type":"boolean"}""", "multipleOf", "#/$defs/x")]
    [DataRow("""{"type":"array","prefixItems":[{"type":"string"}]}""", "prefixItems", "#")]
    [DataRow("""{"$ref":"https://example.com/schema.json"}""", "$ref", "#")]
    [DataRow("""{"anyOf":[{"type":"string"}],"type":"string"}""", "type", "#")]
    [DataRow("""{"type":"array","items":[{"type":"string"}]}""", "items", "#")]
    [DataRow("""{"properties":{"a":{"type":"string"}},"required":["b"]}""", "'b'", "#")]
    [DataRow("""{"anyOf":[{"$ref":"#"},{"type":"string"}]}""", "refers back to itself", "#")]
    [DataRow("""{"type":"string","maxLength":100000}""", "maxLength", "#")]
    public void KeywordsOutsideTheSubsetAreRefusedByNameAndPlace(string schema, string named, string place)
    {
        var e = Assert.ThrowsExactly<NotSupportedException>(() => new GenerationOptions { StructuredOutput = Output(schema) }.Validate());
        StringAssert.Contains(e.Message, named);
        StringAssert.Contains(e.Message, $"at {place}");
    }

    [TestMethod]
    [DataRow("""{"type":"strng"}""", "strng")]
    [DataRow("""{"type":"string","maxLength":-1}""", "maxLength")]
    [DataRow("""{"type":"array","minItems":3,"maxItems":2}""", "maxItems")]
    [DataRow("""{"enum":[]}""", "enum")]
    [DataRow("""{"$ref":"#/$defs/missing"}""", "#/$defs/missing")]
    [DataRow("""42""", "must be an object")]
    public void MalformedSchemasAreArgumentErrorsThatNameTheProblem(string schema, string named)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new GenerationOptions { StructuredOutput = Output(schema) }.Validate());
        StringAssert.Contains(e.Message, named);
    }
}
