using System.Text.Json;
using Gpt2.Torch.Instructions;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// Tools, function calls and function results rendered by <see cref="ChatPromptFormat"/> from Microsoft.Extensions.AI's
/// types, against the renders of the same conversations by @huggingface/jinja (Fixtures/chat-templates/fixtures.json,
/// written by make_fixtures.mjs from the published Qwen2.5 and Qwen3 templates).
/// </summary>
[TestClass]
public sealed class ToolPromptTests
{
    internal static JsonElement Fixture(string name)
    {
        using JsonDocument fixtures = JsonDocument.Parse(File.ReadAllText(Path.Combine(TinyQwenModel.FixturesPath, "chat-templates", "fixtures.json")));
        return fixtures.RootElement.EnumerateArray().Single(f => f.GetProperty("name").GetString() == name).Clone();
    }

    // The fixture's OpenAI-shaped messages as Microsoft.Extensions.AI messages, the way FunctionInvokingChatClient builds them.
    internal static List<ChatMessage> Messages(JsonElement fixture)
    {
        var messages = new List<ChatMessage>();
        foreach (JsonElement message in fixture.GetProperty("messages").EnumerateArray())
        {
            string role = message.GetProperty("role").GetString()!;
            string? content = message.GetProperty("content").ValueKind == JsonValueKind.String ? message.GetProperty("content").GetString() : null;
            if (message.TryGetProperty("tool_calls", out JsonElement calls))
            {
                List<AIContent> contents = [];
                foreach (JsonElement call in calls.EnumerateArray())
                {
                    JsonElement function = call.GetProperty("function");
                    var arguments = function.GetProperty("arguments").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
                    contents.Add(new FunctionCallContent(call.GetProperty("id").GetString()!, function.GetProperty("name").GetString()!, arguments));
                }
                messages.Add(new ChatMessage(ChatRole.Assistant, contents));
            }
            else if (role == "tool")
                messages.Add(new ChatMessage(ChatRole.Tool, [new FunctionResultContent(message.GetProperty("tool_call_id").GetString()!, content)]));
            else
                messages.Add(new ChatMessage(new ChatRole(role), content));
        }
        return messages;
    }

    internal static List<AITool> Tools(JsonElement fixture) =>
    [
        .. fixture.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("function")).Select(f => (AITool)AIFunctionFactory.CreateDeclaration(
            f.GetProperty("name").GetString()!, f.GetProperty("description").GetString(), f.GetProperty("parameters").Clone())),
    ];

    [TestMethod]
    [DataRow("qwen2.5-instruct.jinja", "qwen2.5-instruct/tools/generation")]
    [DataRow("qwen2.5-instruct.jinja", "qwen2.5-instruct/toolsNoSystem/generation")]
    [DataRow("qwen3.jinja", "qwen3/tools/generation")]
    public void ToolsCallsAndResultsRenderAsHuggingFaceJinjaRendersThem(string template, string fixtureName)
    {
        JsonElement fixture = Fixture(fixtureName);
        ChatPromptFormat format = ChatPromptFormat.FromTokenizer(TinyQwenModel.LoadTokenizer(TinyQwenModel.Template(template)));
        Assert.IsTrue(format.RendersTools);

        string rendered = format.Render(Messages(fixture), new ChatOptions { Tools = Tools(fixture) });

        Assert.AreEqual(fixture.GetProperty("expected").GetString(), rendered);
    }

    [TestMethod]
    public void ToolModeNoneLeavesTheToolsOutOfThePrompt()
    {
        JsonElement fixture = Fixture("qwen3/tools/generation");
        ChatPromptFormat format = ChatPromptFormat.FromTokenizer(TinyQwenModel.LoadTokenizer());
        List<ChatMessage> messages = Messages(fixture);

        string none = format.Render(messages, new ChatOptions { Tools = Tools(fixture), ToolMode = ChatToolMode.None });

        Assert.AreEqual(format.Render(messages, new ChatOptions()), none);
        Assert.IsFalse(none.Contains("<tools>", StringComparison.Ordinal));
        StringAssert.Contains(none, "<tool_response>\n{\"temperature\": 21.5, \"unit\": \"celsius\"}\n</tool_response>", "the history still renders");
    }

    [TestMethod]
    [DataRow("smollm2-instruct.jinja", DisplayName = "SmolLM2: ignores tools")]
    [DataRow("llama3-instruct.jinja", DisplayName = "Llama 3 (3.0): ignores tools")]
    public void TemplatesThatDoNotRenderToolsRefuseThemByName(string template)
    {
        ChatPromptFormat format = ChatPromptFormat.FromTokenizer(TinyQwenModel.LoadTokenizer(TinyQwenModel.Template(template)));
        Assert.IsFalse(format.RendersTools);
        var tools = new ChatOptions { Tools = [AIFunctionFactory.Create((string city) => city, "get_weather")] };
        StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() => format.Render([new ChatMessage(ChatRole.User, "Hi")], tools)).Message,
            "ChatOptions.Tools");
    }

    [TestMethod]
    public void FormatsWithoutATemplateRefuseToolsToolModesAndFunctionContentByName()
    {
        ChatMessage[] question = [new(ChatRole.User, "Weather?")];
        foreach (ChatPromptFormat format in new[] { ChatPromptFormat.RawText, ChatPromptFormat.Alpaca, ChatPromptFormat.FromInstructionFormat(InstructionPromptFormat.Phi3) })
        {
            Assert.IsFalse(format.RendersTools);
            StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() =>
                format.Render(question, new ChatOptions { Tools = [AIFunctionFactory.Create(() => 1, "one")] })).Message, "ChatOptions.Tools");
            StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() =>
                format.Render(question, new ChatOptions { ToolMode = ChatToolMode.RequireAny })).Message, "ChatOptions.ToolMode");
            Assert.ThrowsExactly<NotSupportedException>(() => format.Render(
                [new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", "one")]), .. question], new ChatOptions()));
        }
    }
}
