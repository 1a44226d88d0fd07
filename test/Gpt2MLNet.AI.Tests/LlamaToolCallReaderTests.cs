using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// <see cref="ToolCallReader"/> on answers written the way Llama 3.1 and 3.2 write tool calls (vLLM's llama3_json
/// parser's format: the whole answer is bare JSON calls, maybe after <c>&lt;|python_tag|&gt;</c>, separated by <c>; </c>),
/// whole and as they stream.
/// </summary>
[TestClass]
public sealed class LlamaToolCallReaderTests
{
    private const string Weather = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 2}}";
    private const string Time = "{\"name\": \"get_time\", \"parameters\": {\"zone\": \"CET\"}}";

    private static readonly ChatPromptFormat Llama = ChatPromptFormat.FromTokenizer(TinyLlamaModel.LoadTokenizer());

    private static string Json(object? value) => value is JsonElement json ? json.GetRawText() : JsonSerializer.Serialize(value);

    private static void AssertCall(AIContent content, string name, string arguments)
    {
        var call = (FunctionCallContent)content;
        Assert.AreEqual(name, call.Name);
        StringAssert.StartsWith(call.CallId, "call_");
        Assert.AreEqual(arguments, "{" + string.Join(",", call.Arguments!.Select(a => $"\"{a.Key}\":{Json(a.Value)}")) + "}");
    }

    [TestMethod]
    public void OneCallBecomesAFunctionCallWithItsParametersAsArguments()
    {
        AssertCall(ToolCallReader.ReadAll(Weather, Llama).Single(), "get_weather", "{\"city\":\"Paris\",\"days\":2}");
        AssertCall(ToolCallReader.ReadAll(Weather + "\n", Llama).Single(), "get_weather", "{\"city\":\"Paris\",\"days\":2}");
    }

    [TestMethod]
    public void ACallAfterThePythonTagIsACall()
    {
        AssertCall(ToolCallReader.ReadAll("<|python_tag|>" + Time, Llama).Single(), "get_time", "{\"zone\":\"CET\"}");
    }

    [TestMethod]
    public void ArgumentsUnderTheArgumentsKeyAreReadToo()
    {
        AssertCall(ToolCallReader.ReadAll("{\"name\": \"get_time\", \"arguments\": {\"zone\": \"UTC\"}}", Llama).Single(), "get_time", "{\"zone\":\"UTC\"}");
        Assert.AreEqual(0, ((FunctionCallContent)ToolCallReader.ReadAll("{\"name\": \"now\"}", Llama).Single()).Arguments!.Count);
    }

    [TestMethod]
    public void SeveralCallsSeparatedBySemicolonsAreEachACallInOrder()
    {
        IList<AIContent> contents = ToolCallReader.ReadAll(Weather + "; " + Time, Llama);
        Assert.AreEqual(2, contents.Count);
        AssertCall(contents[0], "get_weather", "{\"city\":\"Paris\",\"days\":2}");
        AssertCall(contents[1], "get_time", "{\"zone\":\"CET\"}");
        Assert.AreNotEqual(((FunctionCallContent)contents[0]).CallId, ((FunctionCallContent)contents[1]).CallId);

        AssertCall(ToolCallReader.ReadAll(Weather + "; " + Time, Llama, allowMultipleToolCalls: false).Single(), "get_weather", "{\"city\":\"Paris\",\"days\":2}");
    }

    [TestMethod]
    [DataRow("{\"name\": \"get_time\", \"parameters\": {\"zone\": \"CET\"}", DisplayName = "cut short")]
    [DataRow("{\"city\": \"Paris\"}", DisplayName = "no name")]
    [DataRow("{\"name\": \"get_time\", \"parameters\": [1]}", DisplayName = "parameters not an object")]
    [DataRow("{\"name\": \"get_time\", \"parameters\": {}} and then some words", DisplayName = "text after the call")]
    [DataRow("{\"name\": \"get_time\", \"parameters\": {}}; not json", DisplayName = "second call malformed")]
    [DataRow("<|python_tag|>print(1)", DisplayName = "python after the tag")]
    [DataRow("{}", DisplayName = "empty object")]
    public void AnAnswerThatIsNotAllCallsStaysTextAsWritten(string answer)
    {
        Assert.AreEqual(answer, ((TextContent)ToolCallReader.ReadAll(answer, Llama).Single()).Text);
        var reader = new ToolCallReader(Llama);
        Assert.AreEqual(0, reader.Append(answer).Count, "held back while it may be calls");
        Assert.AreEqual(answer, ((TextContent)reader.Complete().Single()).Text);
        Assert.IsFalse(reader.HasToolCalls);
    }

    [TestMethod]
    public void PlainTextIsUnchangedAndStreamsAsItComes()
    {
        const string answer = "It is sunny in Paris. {\"name\": \"get_time\", \"parameters\": {}} is how I would call.";
        Assert.AreEqual(answer, ((TextContent)ToolCallReader.ReadAll(answer, Llama).Single()).Text);

        var reader = new ToolCallReader(Llama);
        Assert.AreEqual("It", ((TextContent)reader.Append("It").Single()).Text);
        Assert.AreEqual(" is {", ((TextContent)reader.Append(" is {").Single()).Text, "once text, always text");
        Assert.AreEqual(0, reader.Complete().Count);
        Assert.IsFalse(reader.HasToolCalls);
    }

    [TestMethod]
    public void StreamedACallIsHeldBackToTheEndAndNeverGivenOutAsText()
    {
        string answer = "<|python_tag|>" + Weather + "; " + Time;
        var reader = new ToolCallReader(Llama);
        for (int i = 0; i < answer.Length; i += 3)
            Assert.AreEqual(0, reader.Append(answer.Substring(i, Math.Min(3, answer.Length - i))).Count, $"nothing before the end (at {i})");
        IReadOnlyList<AIContent> end = reader.Complete();
        Assert.IsTrue(reader.HasToolCalls);
        Assert.AreEqual(2, end.Count);
        AssertCall(end[0], "get_weather", "{\"city\":\"Paris\",\"days\":2}");
        AssertCall(end[1], "get_time", "{\"zone\":\"CET\"}");
    }

    [TestMethod]
    public void TextThatBeginsLikeThePythonTagIsHeldUntilItDiffers()
    {
        var reader = new ToolCallReader(Llama);
        Assert.AreEqual(0, reader.Append("<|py").Count);
        Assert.AreEqual("<|pyx> hello", ((TextContent)reader.Append("x> hello").Single()).Text);
    }

    [TestMethod]
    public void AFormatThatDoesNotRenderToolsHasNoReader()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new ToolCallReader(ChatPromptFormat.RawText)).Message, "does not render tools");
    }
}
