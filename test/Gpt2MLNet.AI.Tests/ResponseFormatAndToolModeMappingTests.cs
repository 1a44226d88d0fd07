using System.Text.Json;
using System.Text.Json.Nodes;
using Gpt2.Torch.Generation;
using Json.Schema;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// <see cref="Gpt2ChatOptions.ToGenerationOptions"/> for response formats and tool modes: what constraint each becomes,
/// checked with an independent validator (JsonSchema.Net) on the documents a call may and may not be.
/// </summary>
[TestClass]
public sealed class ResponseFormatAndToolModeMappingTests
{
    private static readonly GenerationOptions Defaults = new() { MaxNewTokens = 32 };

    // Qwen's template: required calls are written in the Hermes convention.
    private static readonly Lazy<ChatPromptFormat> Qwen = new(() => ChatPromptFormat.FromTokenizer(TinyQwenModel.LoadTokenizer()));

    private static StructuredOutput? Map(ChatOptions options) => Gpt2ChatOptions.ToGenerationOptions(options, Defaults, Qwen.Value).StructuredOutput;

    private static readonly AIFunctionDeclaration Weather = AIFunctionFactory.CreateDeclaration("get_weather", "The weather in a city.", JsonDocument.Parse("""
        {"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"],"additionalProperties":false}
        """).RootElement);

    private static readonly AIFunctionDeclaration Time = AIFunctionFactory.CreateDeclaration("get_time", null, JsonDocument.Parse("""
        {"type":"object","properties":{"zone":{"type":"string","enum":["CET","UTC"]}},"required":["zone"]}
        """).RootElement);

    // Two functions whose schemas both define "place", differently, and refer to it (and to their own root).
    private static readonly AIFunctionDeclaration Trip = AIFunctionFactory.CreateDeclaration("plan_trip", null, JsonDocument.Parse("""
        {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
         "properties":{"from":{"$ref":"#/$defs/place"},"to":{"$ref":"#/$defs/place"}},"required":["from","to"],"additionalProperties":false,
         "$defs":{"place":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}}
        """).RootElement);

    private static readonly AIFunctionDeclaration Route = AIFunctionFactory.CreateDeclaration("plan_route", null, JsonDocument.Parse("""
        {"type":"object","properties":{"stops":{"type":"array","items":{"$ref":"#/$defs/place"}},"next":{"$ref":"#"}},"required":["stops"],"additionalProperties":false,
         "$defs":{"place":{"type":"integer"}}}
        """).RootElement);

    private static bool Valid(StructuredOutput constraint, string document) =>
        JsonSchema.FromText(constraint.JsonSchema!.Value.GetRawText()).Evaluate(JsonDocument.Parse(document).RootElement).IsValid;

    [TestMethod]
    public void JsonIsAnyObjectASchemaIsThatSchemaAndTextIsNone()
    {
        Assert.AreEqual(StructuredOutput.JsonObject, Map(new ChatOptions { ResponseFormat = ChatResponseFormat.Json }));
        JsonElement schema = JsonDocument.Parse("""{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}""").RootElement;
        StructuredOutput forSchema = Map(new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, "thing", "A thing.") })!;
        Assert.AreEqual(schema.GetRawText(), forSchema.JsonSchema!.Value.GetRawText());
        Assert.AreEqual("", forSchema.Prefix + forSchema.Suffix);
        Assert.IsNull(Map(new ChatOptions { ResponseFormat = ChatResponseFormat.Text }));
        Assert.IsNull(Map(new ChatOptions { Tools = [Weather] }), "auto mode leaves decoding free");
        Assert.IsNull(Map(new ChatOptions { Tools = [Weather], ToolMode = ChatToolMode.None }));
    }

    [TestMethod]
    public void RequireSpecificIsOneCallOfThatFunctionFramedAsQwenWritesIt()
    {
        StructuredOutput call = Map(new ChatOptions { Tools = [Weather, Time], ToolMode = ChatToolMode.RequireSpecific("get_weather") })!;
        Assert.AreEqual("<tool_call>\n", call.Prefix);
        Assert.AreEqual("\n</tool_call>", call.Suffix);
        Assert.IsTrue(Valid(call, """{"name":"get_weather","arguments":{"city":"Paris","days":2}}"""));
        Assert.IsFalse(Valid(call, """{"name":"get_time","arguments":{"zone":"CET"}}"""), "another function");
        Assert.IsFalse(Valid(call, """{"name":"get_weather","arguments":{"city":"Paris","days":"two"}}"""), "arguments that break the schema");
        Assert.IsFalse(Valid(call, """{"name":"get_weather"}"""), "no arguments");
        Assert.IsFalse(Valid(call, """{"name":"get_weather","arguments":{"city":"Paris","days":2},"extra":1}"""));
    }

    [TestMethod]
    public void RequireAnyIsOneCallOfAnyFunctionWithThatFunctionsArguments()
    {
        StructuredOutput call = Map(new ChatOptions { Tools = [Weather, Time], ToolMode = ChatToolMode.RequireAny })!;
        Assert.IsTrue(Valid(call, """{"name":"get_weather","arguments":{"city":"Paris","days":2}}"""));
        Assert.IsTrue(Valid(call, """{"name":"get_time","arguments":{"zone":"UTC"}}"""));
        Assert.IsFalse(Valid(call, """{"name":"get_time","arguments":{"city":"Paris","days":2}}"""), "one function's name with the other's arguments");
        Assert.IsFalse(Valid(call, """{"name":"get_date","arguments":{}}"""));
    }

    [TestMethod]
    public void EachFunctionsDefinitionsAndReferencesKeepTheirMeaningInTheCombinedSchema()
    {
        StructuredOutput call = Map(new ChatOptions { Tools = [Trip, Route], ToolMode = ChatToolMode.RequireAny })!;
        Assert.IsTrue(Valid(call, """{"name":"plan_trip","arguments":{"from":{"city":"Paris"},"to":{"city":"Rome"}}}"""));
        Assert.IsFalse(Valid(call, """{"name":"plan_trip","arguments":{"from":{"city":"Paris"},"to":3}}"""), "place is an object for plan_trip");
        Assert.IsTrue(Valid(call, """{"name":"plan_route","arguments":{"stops":[1,2],"next":{"stops":[3]}}}"""));
        Assert.IsFalse(Valid(call, """{"name":"plan_route","arguments":{"stops":[{"city":"Paris"}]}}"""), "place is an integer for plan_route");
        Assert.IsFalse(Valid(call, """{"name":"plan_route","arguments":{"stops":[1],"next":{"stops":["x"]}}}"""), "'#' is the function's own schema");
        Assert.IsFalse(JsonNode.Parse(call.JsonSchema!.Value.GetRawText())!.ToJsonString().Contains("\"$schema\"", StringComparison.Ordinal));
    }

    [TestMethod]
    public void ImpossibleCombinationsAreRefusedByName()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Map(new ChatOptions { ToolMode = ChatToolMode.RequireAny })).Message, "but ChatOptions.Tools is empty");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            Map(new ChatOptions { Tools = [Weather], ToolMode = ChatToolMode.RequireSpecific("get_time") })).Message, "'get_time'");
        StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() =>
            Map(new ChatOptions { Tools = [new HostedWebSearchTool()], ToolMode = ChatToolMode.RequireAny })).Message, nameof(HostedWebSearchTool));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            Map(new ChatOptions { Tools = [Weather, Weather], ToolMode = ChatToolMode.RequireAny })).Message, "two functions named 'get_weather'");
    }

    [TestMethod]
    public void ARequiredCallWinsOverTheResponseFormatAndInAutoModeTheFormatConstrainsTheAnswer()
    {
        Assert.AreEqual("<tool_call>\n", Map(new ChatOptions { Tools = [Weather], ToolMode = ChatToolMode.RequireAny, ResponseFormat = ChatResponseFormat.Json })!.Prefix);
        Assert.AreEqual(StructuredOutput.JsonObject, Map(new ChatOptions { Tools = [Weather], ResponseFormat = ChatResponseFormat.Json }));
    }

    [TestMethod]
    public void ARequiredCallWithoutAFormatThatRendersToolsIsRefusedNotGuessed()
    {
        var options = new ChatOptions { Tools = [Weather], ToolMode = ChatToolMode.RequireAny };

        ArgumentException missing = Assert.ThrowsExactly<ArgumentException>(() => Gpt2ChatOptions.ToGenerationOptions(options, Defaults));
        Assert.AreEqual("format", missing.ParamName);
        NotSupportedException raw = Assert.ThrowsExactly<NotSupportedException>(() => Gpt2ChatOptions.ToGenerationOptions(options, Defaults, ChatPromptFormat.RawText));
        StringAssert.Contains(raw.Message, "'raw' does not render tools");
        Assert.IsNull(Gpt2ChatOptions.ToGenerationOptions(new ChatOptions { Tools = [Weather] }, Defaults).StructuredOutput, "auto mode needs no format");
    }
}
