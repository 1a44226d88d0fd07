using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// <see cref="ToolCallReader"/> on answers written the way Qwen2.5 and Qwen3 write tool calls (vLLM's hermes parser's
/// format), whole and as they stream.
/// </summary>
[TestClass]
public sealed class ToolCallReaderTests
{
    private const string Weather = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>";
    private const string Time = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}\n</tool_call>";

    private static readonly ChatPromptFormat Qwen = ChatPromptFormat.FromTokenizer(TinyQwenModel.LoadTokenizer());

    private static string Json(object? value) => value is JsonElement json ? json.GetRawText() : JsonSerializer.Serialize(value);

    private static void AssertCall(AIContent content, string name, string arguments)
    {
        var call = (FunctionCallContent)content;
        Assert.AreEqual(name, call.Name);
        StringAssert.StartsWith(call.CallId, "call_");
        Assert.AreEqual(arguments, "{" + string.Join(",", call.Arguments!.Select(a => $"\"{a.Key}\":{Json(a.Value)}")) + "}");
    }

    [TestMethod]
    public void OneCallBecomesAFunctionCallWithItsArgumentsAsADictionary()
    {
        IList<AIContent> contents = ToolCallReader.ReadAll(Weather, Qwen);
        Assert.AreEqual(1, contents.Count);
        AssertCall(contents[0], "get_weather", "{\"city\":\"Paris\",\"days\":2}");
        Assert.IsInstanceOfType<JsonElement>(((FunctionCallContent)contents[0]).Arguments!["days"]);
    }

    [TestMethod]
    public void SeveralCallsEachGetTheirOwnIdAndTheTextBeforeThemStays()
    {
        IList<AIContent> contents = ToolCallReader.ReadAll("Let me look that up.\n" + Weather + "\n" + Time + "\n", Qwen);
        Assert.AreEqual(3, contents.Count);
        Assert.AreEqual("Let me look that up.\n", ((TextContent)contents[0]).Text);
        AssertCall(contents[1], "get_weather", "{\"city\":\"Paris\",\"days\":2}");
        AssertCall(contents[2], "get_time", "{\"zone\":\"CET\"}");
        Assert.AreNotEqual(((FunctionCallContent)contents[1]).CallId, ((FunctionCallContent)contents[2]).CallId);
    }

    [TestMethod]
    public void WithoutMultipleCallsOnlyTheFirstIsKept() =>
        AssertCall(ToolCallReader.ReadAll(Weather + "\n" + Time, Qwen, allowMultipleToolCalls: false).Single(), "get_weather", "{\"city\":\"Paris\",\"days\":2}");

    [TestMethod]
    [DataRow("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par\n</tool_call>", DisplayName = "JSON cut off")]
    [DataRow("<tool_call>\n{\"arguments\": {}}\n</tool_call>", DisplayName = "no name")]
    [DataRow("<tool_call>\n{\"name\": \"f\", \"arguments\": \"city=Paris\"}\n</tool_call>", DisplayName = "arguments not an object")]
    [DataRow("<tool_call>\n[1, 2]\n</tool_call>", DisplayName = "not an object")]
    [DataRow("Some text <tool_call>\n{\"name\": \"get_weather\", \"argu", DisplayName = "unclosed and cut off")]
    public void MalformedCallsStayTextExactlyAsWritten(string answer)
    {
        IList<AIContent> contents = ToolCallReader.ReadAll(answer, Qwen);
        Assert.AreEqual(answer, string.Concat(contents.Cast<TextContent>().Select(t => t.Text)));
    }

    [TestMethod]
    public void AnUnclosedCallWithWholeJsonIsStillACall() =>
        AssertCall(ToolCallReader.ReadAll("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}\n", Qwen).Single(), "get_time", "{\"zone\":\"CET\"}");

    [TestMethod]
    [DataRow("Plain answer, no tools.")]
    [DataRow("   \n  ")]
    [DataRow("a < b and <tool is not a tag <tool_cal")]
    [DataRow("")]
    public void AnAnswerWithoutCallsComesBackExactly(string answer) =>
        Assert.AreEqual(answer, string.Concat(ToolCallReader.ReadAll(answer, Qwen).Cast<TextContent>().Select(t => t.Text)));

    [TestMethod]
    public void StreamedPieceByPieceItReadsWhatTheWholeAnswerReadsAndNeverStreamsTagText()
    {
        string answer = "I will check. " + Weather + "\n" + Time + " Done <tool";
        for (int size = 1; size <= 7; size++)
        {
            var reader = new ToolCallReader(Qwen);
            var contents = new List<AIContent>();
            for (int i = 0; i < answer.Length; i += size)
            {
                IReadOnlyList<AIContent> piece = reader.Append(answer.Substring(i, Math.Min(size, answer.Length - i)));
                foreach (TextContent text in piece.OfType<TextContent>())
                    Assert.IsFalse(text.Text.Contains("<tool_call", StringComparison.Ordinal) || text.Text.Contains("tool_call>", StringComparison.Ordinal),
                        $"tag text streamed: '{text.Text}'");
                contents.AddRange(piece);
            }
            contents.AddRange(reader.Complete());
            Assert.IsTrue(reader.HasToolCalls);
            Assert.AreEqual("I will check. ", string.Concat(contents.TakeWhile(c => c is TextContent).Cast<TextContent>().Select(t => t.Text)), $"pieces of {size}");
            FunctionCallContent[] calls = [.. contents.OfType<FunctionCallContent>()];
            Assert.AreEqual(2, calls.Length, $"pieces of {size}");
            AssertCall(calls[0], "get_weather", "{\"city\":\"Paris\",\"days\":2}");
            AssertCall(calls[1], "get_time", "{\"zone\":\"CET\"}");
            Assert.AreEqual(" Done <tool", string.Concat(contents.SkipWhile(c => c is not FunctionCallContent).OfType<TextContent>().Select(t => t.Text)));
        }
    }
}
