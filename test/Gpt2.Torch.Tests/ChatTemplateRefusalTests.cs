using System.Text.Json;
using Gpt2.Torch.Templates;

namespace Gpt2.Torch.Tests;

/// <summary>
/// What the interpreter does not implement is refused, naming the construct and where it is: tags and filters when
/// parsing, functions when rendering; a template's raise_exception reaches the caller with the template's message.
/// </summary>
[TestClass]
public sealed class ChatTemplateRefusalTests
{
    private static readonly List<ChatTemplateMessage> OneUserTurn = [new("user", "Hi")];

    [TestMethod]
    [DataRow("{% include 'other.jinja' %}", "include")]
    [DataRow("{% extends 'base.jinja' %}", "extends")]
    [DataRow("{% import 'macros.jinja' as m %}", "import")]
    [DataRow("{% from 'macros.jinja' import m %}", "from")]
    [DataRow("{% block body %}x{% endblock %}", "block")]
    [DataRow("{% raw %}{{ x }}{% endraw %}", "raw")]
    [DataRow("{% filter upper %}x{% endfilter %}", "filter")]
    [DataRow("{% with x = 1 %}{{ x }}{% endwith %}", "with")]
    [DataRow("{% frobnicate %}", "frobnicate")]
    public void RefusesUnsupportedTagsWhenParsingNamingTagAndPosition(string tag, string name)
    {
        var exception = Assert.ThrowsExactly<ChatTemplateException>(() => ChatTemplate.Parse("Hello\n  " + tag));

        StringAssert.Contains(exception.Message, $"'{{% {name}");
        Assert.AreEqual(2, exception.Line);
        Assert.AreEqual(6, exception.Column, exception.Message);
        StringAssert.Contains(exception.Message, "line 2, column 6");
        Assert.IsFalse(exception.RaisedByTemplate);
    }

    [TestMethod]
    public void RefusesAnUnknownFilterWhenParsingEvenInABranchNotTaken()
    {
        var exception = Assert.ThrowsExactly<ChatTemplateException>(() =>
            ChatTemplate.Parse("{% if false %}\n{{ messages | frobnicate(2) }}\n{% endif %}"));

        StringAssert.Contains(exception.Message, "Unknown filter 'frobnicate'");
        Assert.AreEqual((2, 15), (exception.Line, exception.Column));
    }

    [TestMethod]
    public void RefusesAnUnknownTestWhenParsing()
    {
        var exception = Assert.ThrowsExactly<ChatTemplateException>(() => ChatTemplate.Parse("{% if 7 is prime %}x{% endif %}"));

        StringAssert.Contains(exception.Message, "Unknown test 'is prime'");
        Assert.AreEqual((1, 12), (exception.Line, exception.Column));
    }

    [TestMethod]
    public void RefusesACallToAnUnknownFunctionWhenRenderingWithItsName()
    {
        var template = ChatTemplate.Parse("{% for m in messages %}\n    {{ summarize(m.content) }}\n{% endfor %}");

        var exception = Assert.ThrowsExactly<ChatTemplateException>(() => template.Render(OneUserTurn, addGenerationPrompt: false));

        StringAssert.Contains(exception.Message, "Unknown function 'summarize'");
        Assert.AreEqual((2, 17), (exception.Line, exception.Column));
    }

    [TestMethod]
    public void RefusesAPythonMethodItDoesNotImplementWhenRenderingWithItsName()
    {
        var template = ChatTemplate.Parse("{{ 'Hello {}'.format(messages[0].content) }}");

        var exception = Assert.ThrowsExactly<ChatTemplateException>(() => template.Render(OneUserTurn, addGenerationPrompt: false));

        StringAssert.Contains(exception.Message, "Unsupported method 'format'");
        StringAssert.Contains(exception.Message, "'str object' has no attribute 'format'");
    }

    [TestMethod]
    [DataRow("messages")]
    [DataRow("add_generation_prompt")]
    [DataRow("tools")]
    [DataRow("bos_token")]
    public void RefusesAVariableThatWouldReplaceWhatRenderSets(string name)
    {
        var template = ChatTemplate.Parse("{{ messages|length }}");

        var exception = Assert.ThrowsExactly<ArgumentException>(() => template.Render(OneUserTurn, false,
            new ChatTemplateOptions { Variables = new Dictionary<string, object?> { [name] = null } }));

        StringAssert.Contains(exception.Message, $"Variables['{name}']");
    }

    [TestMethod]
    [DataRow("{% if true %}never closed", "endif")]
    [DataRow("{% for m in messages %}x", "endfor")]
    [DataRow("{{ 'unclosed }}", "Unclosed string")]
    [DataRow("{{ 1 + }}", "Unexpected '}}'")]
    [DataRow("{{ messages[0 }}", "Unclosed '['")]
    [DataRow("{% endif %}", "no block open")]
    [DataRow("{# never closed", "Unclosed comment")]
    [DataRow("{{ x", "Unclosed tag")]
    [DataRow("{{ x.* }}", "attribute name")]
    [DataRow("{% if true %}{% break %}{% endif %}", "outside a for loop")]
    [DataRow("{% for x in y %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", "outside a for loop")]
    public void RefusesMalformedTemplatesWhenParsing(string source, string expected)
    {
        var exception = Assert.ThrowsExactly<ChatTemplateException>(() => ChatTemplate.Parse(source));

        StringAssert.Contains(exception.Message, expected);
    }

    [TestMethod]
    public void IsAFormatException() =>
        Assert.IsInstanceOfType<FormatException>(Assert.ThrowsExactly<ChatTemplateException>(() => ChatTemplate.Parse("{% include 'x' %}")));

    [TestMethod]
    public void RaiseExceptionSurfacesTheTemplatesMessage()
    {
        // Mixtral-8x7B-Instruct-v0.1's published template: roles must alternate, starting with the user.
        var template = ChatTemplate.Parse("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}");
        var options = new ChatTemplateOptions { BosToken = "<s>", EosToken = "</s>" };

        Assert.AreEqual("<s>[INST] Hi [/INST]Hello</s>[INST] Bye [/INST]",
            template.Render([new("user", "Hi"), new("assistant", "Hello"), new("user", "Bye")], false, options));
        var twoUsers = Assert.ThrowsExactly<ChatTemplateException>(() =>
            template.Render([new("user", "Hi"), new("user", "Again")], false, options));
        var system = Assert.ThrowsExactly<ChatTemplateException>(() =>
            template.Render([new("user", "Hi"), new("system", "Be brief.")], false, options));

        Assert.AreEqual("Conversation roles must alternate user/assistant/user/assistant/...", twoUsers.Message);
        Assert.IsTrue(twoUsers.RaisedByTemplate);
        Assert.AreEqual("Only user and assistant roles are supported!", system.Message);
    }

    [TestMethod]
    public void Llama32RaisesWhenToolsGoInAMissingFirstUserMessage()
    {
        var template = ChatTemplate.Parse(ChatTemplateFixtureTests.TemplateText("llama-3.2-instruct.jinja"));
        var tool = JsonDocument.Parse("""{"type": "function", "function": {"name": "f", "parameters": {}}}""").RootElement;

        var exception = Assert.ThrowsExactly<ChatTemplateException>(() =>
            template.Render([new("system", "Only a system message.")], true, new ChatTemplateOptions { Tools = [tool] }));

        Assert.AreEqual("Cannot put tools in the first user message when there's no first user message!", exception.Message);
        Assert.IsTrue(exception.RaisedByTemplate);
    }

    [TestMethod]
    public void Llama32DatesTheSystemHeaderWithStrftimeNowWhenNoDateStringIsGiven()
    {
        using var fixtures = JsonDocument.Parse(File.ReadAllText(Path.Combine(ChatTemplateFixtureTests.Directory, "fixtures.json")));
        var fixture = fixtures.RootElement.EnumerateArray().Single(f => f.GetProperty("name").GetString() == "llama-3.2-instruct/single/generation");
        Assert.AreEqual("05 Dec 2026", fixture.GetProperty("variables").GetProperty("date_string").GetString());
        var template = ChatTemplate.Parse(ChatTemplateFixtureTests.TemplateText("llama-3.2-instruct.jinja"));

        string rendered = template.Render(ChatTemplateFixtureTests.Messages(fixture.GetProperty("messages")), true, new ChatTemplateOptions
        {
            BosToken = "<|begin_of_text|>",
            Now = new DateTimeOffset(2026, 12, 5, 23, 59, 0, TimeSpan.FromHours(-8)),
        });

        Assert.AreEqual(fixture.GetProperty("expected").GetString(), rendered);
    }

    [TestMethod]
    public void MessagesAndOptionsReachTheTemplateAsTransformersPassesThem()
    {
        var template = ChatTemplate.Parse(
            "{{ tools is defined }} {{ tools is none }} [{{ bos_token }}] {{ enable_thinking is false }} {{ n + 1 }} {{ names|join(',') }} {{ extra.k }}\n" +
            "{% for m in messages %}{{ m.role }}:{{ m.content is none }}:{{ m.tool_calls is defined }}:{{ m.tool_call_id }}:{{ m.name }}" +
            "{% for c in m.tool_calls or [] %}:{{ c.id }}/{{ c.type }}/{{ c.function.name }}/{{ c.function.arguments|tojson }}{% endfor %};{% endfor %}");
        var arguments = JsonDocument.Parse("""{"city": "Oslo", "days": 3}""").RootElement;
        List<ChatTemplateMessage> messages =
        [
            new("user", "Weather?"),
            new("assistant", null) { ToolCalls = [new ChatTemplateToolCall("forecast", arguments, "c1")] },
            new("tool", "sunny") { ToolCallId = "c1", Name = "forecast" },
        ];

        string rendered = template.Render(messages, false, new ChatTemplateOptions
        {
            Variables = new Dictionary<string, object?>
            {
                ["enable_thinking"] = false,
                ["n"] = 41,
                ["names"] = new[] { "a", "b" },
                ["extra"] = new Dictionary<string, object?> { ["k"] = "v" },
            },
        });

        Assert.AreEqual(
            "True True [] True 42 a,b v\n" +
            "user:False:False::;assistant:True:True::" + """:c1/function/forecast/{"city": "Oslo", "days": 3}""" + ";tool:False:False:c1:forecast;",
            rendered);
    }
}
