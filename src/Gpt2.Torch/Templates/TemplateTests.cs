namespace Gpt2.Torch.Templates;

/// <summary>The <c>is</c> tests of Jinja that chat templates use (<c>x is defined</c>, <c>x is not none</c>, ...).</summary>
internal static class TemplateTests
{
    private static readonly Dictionary<string, Func<object?, IReadOnlyList<object?>, SourcePosition, bool>> Tests = new(StringComparer.Ordinal)
    {
        ["defined"] = (value, _, _) => value is not Undefined,
        ["undefined"] = (value, _, _) => value is Undefined,
        ["none"] = (value, _, _) => value is null,
        ["boolean"] = (value, _, _) => value is bool,
        ["true"] = (value, _, _) => value is true,
        ["false"] = (value, _, _) => value is false,
        ["string"] = (value, _, _) => value is string,
        ["number"] = (value, _, _) => value is long or double,
        ["integer"] = (value, _, _) => value is long,
        ["float"] = (value, _, _) => value is double,
        ["mapping"] = (value, _, _) => value is OrderedDictionary<string, object?>,
        ["sequence"] = (value, _, _) => value is string or List<object?> or OrderedDictionary<string, object?>,
        ["iterable"] = (value, _, _) => value is string or List<object?> or OrderedDictionary<string, object?> or Undefined,
        ["callable"] = (value, _, _) => value is TemplateCallable,
        ["odd"] = (value, _, position) => Integer(value, "odd", position) % 2 != 0,
        ["even"] = (value, _, position) => Integer(value, "even", position) % 2 == 0,
        ["divisibleby"] = (value, arguments, position) => Integer(value, "divisibleby", position) % Integer(Single(arguments, "divisibleby", position), "divisibleby", position) == 0,
        ["equalto"] = (value, arguments, position) => TemplateValues.AreEqual(value, Single(arguments, "equalto", position)),
        ["eq"] = (value, arguments, position) => TemplateValues.AreEqual(value, Single(arguments, "eq", position)),
        ["=="] = (value, arguments, position) => TemplateValues.AreEqual(value, Single(arguments, "==", position)),
        ["ne"] = (value, arguments, position) => !TemplateValues.AreEqual(value, Single(arguments, "ne", position)),
        ["!="] = (value, arguments, position) => !TemplateValues.AreEqual(value, Single(arguments, "!=", position)),
        ["sameas"] = (value, arguments, position) => Single(arguments, "sameas", position) is var other
            && (value is null or bool ? Equals(value, other) : ReferenceEquals(value, other)),
        ["in"] = (value, arguments, position) => TemplateOperators.Contains(Single(arguments, "in", position), value, position),
        ["lower"] = (value, _, _) => value is string s && s == s.ToLowerInvariant(),
        ["upper"] = (value, _, _) => value is string s && s == s.ToUpperInvariant(),
        ["lt"] = (value, arguments, position) => TemplateValues.Compare(value, Single(arguments, "lt", position), position) < 0,
        ["le"] = (value, arguments, position) => TemplateValues.Compare(value, Single(arguments, "le", position), position) <= 0,
        ["gt"] = (value, arguments, position) => TemplateValues.Compare(value, Single(arguments, "gt", position), position) > 0,
        ["ge"] = (value, arguments, position) => TemplateValues.Compare(value, Single(arguments, "ge", position), position) >= 0,
    };

    public static bool Exists(string name) => Tests.ContainsKey(name);

    public static bool Apply(string name, object? value, IReadOnlyList<object?> arguments, SourcePosition position) =>
        Tests.TryGetValue(name, out var test)
            ? test(value, arguments, position)
            : throw position.Error($"Unknown test 'is {name}': this chat template interpreter does not implement it");

    private static object? Single(IReadOnlyList<object?> arguments, string test, SourcePosition position) =>
        arguments.Count == 1 ? arguments[0] : throw position.Error($"Test '{test}' takes one argument");

    private static long Integer(object? value, string test, SourcePosition position) =>
        value is long or bool ? TemplateValues.ToLong(value) : throw position.Error($"Test '{test}' needs an integer, not '{TemplateValues.TypeName(value)}'");
}
