using System.Text.Json;
using Gpt2.Torch.Templates;

namespace Gpt2.Torch.Tests;

/// <summary>
/// One Jinja feature per case (whitespace control, Python's printing of values, undefined, slices, loops, scoping,
/// filters, tests, tojson, macros, errors), each rendered by Python's Jinja2 set up as transformers sets it up:
/// Fixtures/chat-templates/language.json, made by make_language_fixtures.py.
/// </summary>
[TestClass]
public sealed class ChatTemplateLanguageTests
{
    private static readonly DateTimeOffset FixtureNow = new(2026, 12, 5, 14, 3, 9, TimeSpan.Zero);

    public static IEnumerable<object[]> Cases()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(ChatTemplateFixtureTests.Directory, "language.json")));
        foreach (var item in document.RootElement.EnumerateArray())
        {
            yield return [item.GetProperty("name").GetString()!, item.GetRawText()];
        }
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void RendersLikeJinja2(string name, string caseJson)
    {
        using var document = JsonDocument.Parse(caseJson);
        var item = document.RootElement;
        var options = new ChatTemplateOptions
        {
            Now = FixtureNow,
            Variables = item.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone()),
        };
        // The snippets read only their own variables (an empty conversation is passed as messages).
        string Render() => ChatTemplate.Parse(item.GetProperty("template").GetString()!).Render([], addGenerationPrompt: false, options);

        if (item.TryGetProperty("expected", out var expected))
        {
            string actual = Render();
            Assert.AreEqual(expected.GetString(), actual, $"Case {name} rendered:\n{actual}\nJinja2 rendered:\n{expected.GetString()}");
            return;
        }
        string error = item.GetProperty("error").GetString()!;
        string message = item.GetProperty("message").GetString()!;
        var exception = Assert.ThrowsExactly<ChatTemplateException>(Render, $"Case {name} should fail as Jinja2 fails: {error}: {message}");
        if (error == "TemplateError")
        {
            Assert.IsTrue(exception.RaisedByTemplate, name);
            Assert.AreEqual(message, exception.Message, name);
        }
        else if (error == "UndefinedError")
        {
            StringAssert.Contains(exception.Message, message.Split('\'')[1], name);
        }
    }
}
