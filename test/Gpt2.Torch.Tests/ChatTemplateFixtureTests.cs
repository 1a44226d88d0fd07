using System.Text.Json;
using Gpt2.Torch.Templates;

namespace Gpt2.Torch.Tests;

/// <summary>
/// The published chat templates of Qwen2.5-Instruct, Qwen3, SmolLM2-Instruct, Llama 3, Llama 3.1 and Llama 3.2 render
/// every conversation of Fixtures/chat-templates/fixtures.json byte for byte as @huggingface/jinja (the Hub's renderer)
/// rendered it: see make_fixtures.mjs and README.md there.
/// </summary>
[TestClass]
public sealed class ChatTemplateFixtureTests
{
    internal static string Directory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "chat-templates");

    internal static string TemplateText(string file) => File.ReadAllText(Path.Combine(Directory, file));

    public static IEnumerable<object[]> Fixtures()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory, "fixtures.json")));
        foreach (var fixture in document.RootElement.EnumerateArray())
        {
            yield return [fixture.GetProperty("name").GetString()!, fixture.GetRawText()];
        }
    }

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void RendersLikeHuggingFace(string name, string fixtureJson)
    {
        using var document = JsonDocument.Parse(fixtureJson);
        var fixture = document.RootElement;
        var template = ChatTemplate.Parse(TemplateText(fixture.GetProperty("template").GetString()!));

        string rendered = template.Render(Messages(fixture.GetProperty("messages")), fixture.GetProperty("add_generation_prompt").GetBoolean(),
            Options(fixture));

        Assert.AreEqual(fixture.GetProperty("expected").GetString(), rendered, $"Fixture {name} renders differently");
    }

    [TestMethod]
    public void FixturesCoverEveryTemplateWithAndWithoutTheGenerationPrompt()
    {
        var names = Fixtures().Select(f => (string)f[0]).ToList();
        foreach (var template in new[] { "qwen2.5-instruct", "qwen3", "smollm2-instruct", "llama3-instruct", "llama-3.1-instruct", "llama-3.2-instruct" })
        {
            Assert.IsTrue(names.Contains($"{template}/single/generation"), template);
            Assert.IsTrue(names.Contains($"{template}/withSystem/no-generation"), template);
        }
        Assert.IsTrue(names.Contains("qwen3/enableThinkingFalse/generation"));
        Assert.IsTrue(names.Contains("qwen2.5-instruct/tools/generation"));
    }

    internal static List<ChatTemplateMessage> Messages(JsonElement messages) =>
        messages.EnumerateArray().Select(message => new ChatTemplateMessage(
            message.GetProperty("role").GetString()!,
            message.GetProperty("content").ValueKind == JsonValueKind.Null ? null : message.GetProperty("content").GetString())
        {
            ToolCalls = message.TryGetProperty("tool_calls", out var calls)
                ? calls.EnumerateArray().Select(call => new ChatTemplateToolCall(
                    call.GetProperty("function").GetProperty("name").GetString()!,
                    call.GetProperty("function").GetProperty("arguments").Clone(),
                    call.TryGetProperty("id", out var id) ? id.GetString() : null)).ToList()
                : null,
            ToolCallId = message.TryGetProperty("tool_call_id", out var toolCallId) ? toolCallId.GetString() : null,
            Name = message.TryGetProperty("name", out var toolName) ? toolName.GetString() : null,
        }).ToList();

    private static ChatTemplateOptions Options(JsonElement fixture) => new()
    {
        BosToken = fixture.GetProperty("bos_token").GetString(),
        EosToken = fixture.GetProperty("eos_token").GetString(),
        Tools = fixture.GetProperty("tools").ValueKind == JsonValueKind.Array
            ? fixture.GetProperty("tools").EnumerateArray().Select(tool => tool.Clone()).ToList()
            : null,
        Variables = fixture.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone()),
    };
}
