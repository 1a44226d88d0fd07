using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Gpt2.Torch.Templates;

/// <summary>
/// The Jinja filters chat templates use (<c>x | trim</c>, <c>x | tojson(indent=4)</c>, ...), with Jinja's behaviour
/// and transformers' <c>tojson</c>. The names are checked when the template is parsed: an unknown filter is refused there.
/// </summary>
internal static partial class TemplateFilters
{
    private delegate object? Filter(TemplateEvaluator evaluator, object? value, FilterArguments arguments, SourcePosition position);

    /// <summary>A filter's arguments by position or by keyword, as Python binds them.</summary>
    private sealed record FilterArguments(IReadOnlyList<object?> Positional, IReadOnlyDictionary<string, object?> Keyword)
    {
        public object? Get(int index, string name, object? whenMissing) =>
            index < Positional.Count ? Positional[index] : Keyword.TryGetValue(name, out var value) ? value : whenMissing;

        public bool Has(int index, string name) => index < Positional.Count || Keyword.ContainsKey(name);
    }

    private static readonly Dictionary<string, Filter> Filters = new(StringComparer.Ordinal)
    {
        ["trim"] = (_, value, arguments, position) =>
            TemplateMethods.Strip(Text(value), arguments.Get(0, "chars", null) as string, start: true, end: true),
        ["length"] = (_, value, _, position) => TemplateIteration.Length(value, position),
        ["count"] = (_, value, _, position) => TemplateIteration.Length(value, position),
        ["upper"] = (_, value, _, _) => TemplateValues.ToText(value).ToUpperInvariant(),
        ["lower"] = (_, value, _, _) => TemplateValues.ToText(value).ToLowerInvariant(),
        ["capitalize"] = (_, value, _, _) => TemplateMethods.Capitalize(TemplateValues.ToText(value)),
        ["title"] = (_, value, _, _) => Title(TemplateValues.ToText(value)),
        ["replace"] = (_, value, arguments, position) => TemplateMethods.Replace(TemplateValues.ToText(value),
            TemplateValues.ToText(arguments.Get(0, "old", null)), TemplateValues.ToText(arguments.Get(1, "new", null)),
            arguments.Has(2, "count") ? TemplateValues.ToLong(arguments.Get(2, "count", null)) : -1),
        ["join"] = (_, value, arguments, position) => string.Join(TemplateValues.ToText(arguments.Get(0, "d", "")),
            Attributes(Items(value, position), arguments.Get(1, "attribute", null), position).Select(TemplateValues.ToText)),
        ["first"] = (_, value, _, position) => Items(value, position).DefaultIfEmpty(new Undefined("first of an empty sequence")).First(),
        ["last"] = (_, value, _, position) => Items(value, position).DefaultIfEmpty(new Undefined("last of an empty sequence")).Last(),
        ["default"] = Default,
        ["d"] = Default,
        ["tojson"] = (_, value, arguments, position) => PythonJson.Serialize(value,
            arguments.Get(0, "indent", null) is { } indent ? (int)TemplateValues.ToLong(indent) : null,
            TemplateValues.IsTrue(arguments.Get(1, "ensure_ascii", false)),
            arguments.Get(2, "separators", null) is List<object?> { Count: 2 } separators
                ? (TemplateValues.ToText(separators[0]), TemplateValues.ToText(separators[1])) : null,
            TemplateValues.IsTrue(arguments.Get(3, "sort_keys", false)), position),
        ["string"] = (_, value, _, _) => TemplateValues.ToText(value),
        ["int"] = (_, value, arguments, _) => ToInteger(value, arguments.Get(0, "default", 0L)),
        ["float"] = (_, value, arguments, _) => ToFloat(value, arguments.Get(0, "default", 0.0)),
        ["abs"] = (_, value, _, position) => value switch
        {
            long l => (object)Math.Abs(l),
            double d => Math.Abs(d),
            _ => throw position.Error($"bad operand type for abs(): '{TemplateValues.TypeName(value)}'"),
        },
        ["list"] = (_, value, _, position) => Items(value, position).ToList(),
        ["items"] = (_, value, _, position) => value switch
        {
            OrderedDictionary<string, object?> dict => dict.Select(e => (object?)new TemplateTuple([e.Key, e.Value])).ToList(),
            Undefined => new List<object?>(),
            _ => throw position.Error($"items needs a mapping, not '{TemplateValues.TypeName(value)}'"),
        },
        ["map"] = Map,
        ["select"] = (evaluator, value, arguments, position) => Select(value, arguments, position, attribute: false, keep: true),
        ["reject"] = (evaluator, value, arguments, position) => Select(value, arguments, position, attribute: false, keep: false),
        ["selectattr"] = (evaluator, value, arguments, position) => Select(value, arguments, position, attribute: true, keep: true),
        ["rejectattr"] = (evaluator, value, arguments, position) => Select(value, arguments, position, attribute: true, keep: false),
        ["safe"] = (_, value, _, _) => value,
        ["indent"] = Indent,
        ["unique"] = Unique,
        ["sort"] = Sort,
        ["dictsort"] = DictSort,
        ["reverse"] = (_, value, _, position) => value is string text
            ? string.Concat(TemplateIteration.Characters(text).Reverse().Cast<string>())
            : Items(value, position).Reverse().ToList(),
        ["sum"] = (_, value, arguments, position) => Attributes(Items(value, position), arguments.Get(0, "attribute", null), position)
            .Aggregate(arguments.Get(1, "start", 0L), (total, item) => TemplateOperators.Binary("+", total, item, position)),
        ["min"] = (_, value, _, position) => Items(value, position).DefaultIfEmpty(new Undefined("min of an empty sequence"))
            .Aggregate((a, b) => TemplateValues.Compare(b, a, position) < 0 ? b : a),
        ["max"] = (_, value, _, position) => Items(value, position).DefaultIfEmpty(new Undefined("max of an empty sequence"))
            .Aggregate((a, b) => TemplateValues.Compare(b, a, position) > 0 ? b : a),
    };

    public static bool Exists(string name) => Filters.ContainsKey(name);

    public static object? Apply(TemplateEvaluator evaluator, string name, object? value, IReadOnlyList<object?> positional,
        IReadOnlyDictionary<string, object?> keyword, SourcePosition position) =>
        Filters.TryGetValue(name, out var filter)
            ? filter(evaluator, value, new FilterArguments(positional, keyword), position)
            : throw position.Error($"Unknown filter '{name}': this chat template interpreter does not implement it");

    // Jinja's text filters read undefined as "" (str(Undefined) is empty), as they read none as "None".
    private static string Text(object? value) => TemplateValues.ToText(value);

    private static IEnumerable<object?> Items(object? value, SourcePosition position) => TemplateIteration.Items(value, position);

    private static object? Default(TemplateEvaluator evaluator, object? value, FilterArguments arguments, SourcePosition position)
    {
        bool boolean = TemplateValues.IsTrue(arguments.Get(1, "boolean", false));
        bool missing = value is Undefined || (boolean && !TemplateValues.IsTrue(value));
        return missing ? arguments.Get(0, "default_value", "") : value;
    }

    /// <summary>Jinja's title filter: upper-cases the first letter of each word (words start after spaces and - ( { [ &lt;).</summary>
    private static string Title(string text) => string.Concat(WordBeginning().Split(text)
        .Where(part => part.Length > 0)
        .Select(part => char.ToUpperInvariant(part[0]) + part[1..].ToLowerInvariant()));

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex WordBeginning();

    private static object? ToInteger(object? value, object? fallback) => value switch
    {
        long or bool => TemplateValues.ToLong(value),
        double d => (long)Math.Truncate(d),
        string s when long.TryParse(s.Trim().Replace("_", "", StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l) => l,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => (long)Math.Truncate(d),
        _ => fallback,
    };

    private static object? ToFloat(object? value, object? fallback) => value switch
    {
        long or bool or double => TemplateValues.ToDouble(value),
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
        _ => fallback,
    };

    /// <summary>The value of <paramref name="attribute"/> ("a.b" for nested) of each item, or the items when it is none.</summary>
    private static IEnumerable<object?> Attributes(IEnumerable<object?> items, object? attribute, SourcePosition position) =>
        attribute is null ? items : items.Select(item => AttributeOf(item, attribute, position));

    private static object? AttributeOf(object? item, object? attribute, SourcePosition position)
    {
        if (attribute is long index)
        {
            return TemplateAccess.Item(item, index, position);
        }
        foreach (var part in TemplateValues.ToText(attribute).Split('.'))
        {
            item = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long i)
                ? TemplateAccess.Item(item, i, position)
                : TemplateAccess.Item(item, part, position);
        }
        return item;
    }

    /// <summary>map, select and their kin iterate only a true value, as Jinja's do: none gives an empty list.</summary>
    private static IEnumerable<object?> ItemsIfTrue(object? value, SourcePosition position) =>
        TemplateValues.IsTrue(value) ? Items(value, position) : [];

    private static object? Map(TemplateEvaluator evaluator, object? value, FilterArguments arguments, SourcePosition position)
    {
        var items = ItemsIfTrue(value, position);
        if (arguments.Keyword.TryGetValue("attribute", out var attribute))
        {
            bool hasDefault = arguments.Keyword.TryGetValue("default", out var fallback);
            return items.Select(item => AttributeOf(item, attribute, position) is var found && found is Undefined && hasDefault ? fallback : found).ToList();
        }
        if (arguments.Positional.Count == 0 || arguments.Positional[0] is not string filter)
        {
            throw position.Error("map needs a filter name or attribute=...");
        }
        var rest = new FilterArguments(arguments.Positional.Skip(1).ToList(), arguments.Keyword);
        if (!Filters.TryGetValue(filter, out var apply))
        {
            throw position.Error($"Unknown filter '{filter}' in map: this chat template interpreter does not implement it");
        }
        return items.Select(item => apply(evaluator, item, rest, position)).ToList();
    }

    private static List<object?> Select(object? value, FilterArguments arguments, SourcePosition position, bool attribute, bool keep)
    {
        var positional = arguments.Positional;
        int testAt = attribute ? 1 : 0;
        if (attribute && positional.Count == 0)
        {
            throw position.Error("selectattr and rejectattr need an attribute name");
        }
        string? test = positional.Count > testAt ? positional[testAt] as string ?? throw position.Error("The test name must be a string") : null;
        var testArguments = positional.Skip(testAt + 1).ToList();
        if (test is not null && !TemplateTests.Exists(test))
        {
            throw position.Error($"Unknown test '{test}': this chat template interpreter does not implement it");
        }
        return ItemsIfTrue(value, position).Where(item =>
        {
            var subject = attribute ? AttributeOf(item, positional[0], position) : item;
            bool passed = test is null ? TemplateValues.IsTrue(subject) : TemplateTests.Apply(test, subject, testArguments, position);
            return passed == keep;
        }).ToList();
    }

    private static object? Indent(TemplateEvaluator evaluator, object? value, FilterArguments arguments, SourcePosition position)
    {
        var width = arguments.Get(0, "width", 4L);
        string prefix = width is string s ? s : new string(' ', (int)TemplateValues.ToLong(width));
        bool first = TemplateValues.IsTrue(arguments.Get(1, "first", false));
        bool blank = TemplateValues.IsTrue(arguments.Get(2, "blank", false));
        string text = TemplateValues.ToText(value);
        var lines = text.Split('\n');
        var builder = new StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            if (i > 0) builder.Append('\n');
            bool indents = (i > 0 || first) && (blank || lines[i].Trim().Length > 0);
            if (indents) builder.Append(prefix);
            builder.Append(lines[i]);
        }
        return builder.ToString();
    }

    private static object? SortKey(object? item, bool caseSensitive) =>
        !caseSensitive && item is string s ? s.ToLowerInvariant() : item;

    private static object? Unique(TemplateEvaluator evaluator, object? value, FilterArguments arguments, SourcePosition position)
    {
        bool caseSensitive = TemplateValues.IsTrue(arguments.Get(0, "case_sensitive", false));
        var attribute = arguments.Get(1, "attribute", null);
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in Items(value, position))
        {
            var key = SortKey(attribute is null ? item : AttributeOf(item, attribute, position), caseSensitive);
            if (!seen.Any(other => TemplateValues.AreEqual(other, key)))
            {
                seen.Add(key);
                result.Add(item);
            }
        }
        return result;
    }

    private static object? Sort(TemplateEvaluator evaluator, object? value, FilterArguments arguments, SourcePosition position)
    {
        bool reverse = TemplateValues.IsTrue(arguments.Get(0, "reverse", false));
        bool caseSensitive = TemplateValues.IsTrue(arguments.Get(1, "case_sensitive", false));
        var attribute = arguments.Get(2, "attribute", null);
        var items = Items(value, position).ToList();
        // A stable sort, as Python's.
        var sorted = items.Select((item, index) => (item, index)).ToList();
        sorted.Sort((a, b) =>
        {
            var x = SortKey(attribute is null ? a.item : AttributeOf(a.item, attribute, position), caseSensitive);
            var y = SortKey(attribute is null ? b.item : AttributeOf(b.item, attribute, position), caseSensitive);
            int order = TemplateValues.Compare(x, y, position) * (reverse ? -1 : 1);
            return order != 0 ? order : a.index.CompareTo(b.index);
        });
        return sorted.Select(pair => pair.item).ToList();
    }

    private static object? DictSort(TemplateEvaluator evaluator, object? value, FilterArguments arguments, SourcePosition position)
    {
        if (value is not OrderedDictionary<string, object?> dict)
        {
            throw position.Error($"dictsort needs a mapping, not '{TemplateValues.TypeName(value)}'");
        }
        bool caseSensitive = TemplateValues.IsTrue(arguments.Get(0, "case_sensitive", false));
        bool byValue = TemplateValues.ToText(arguments.Get(1, "by", "key")) == "value";
        bool reverse = TemplateValues.IsTrue(arguments.Get(2, "reverse", false));
        var entries = dict.Select(e => (key: e.Key, value: e.Value)).ToList();
        var sorted = entries.Select((entry, index) => (entry, index)).ToList();
        sorted.Sort((a, b) =>
        {
            int order = TemplateValues.Compare(SortKey(byValue ? a.entry.value : a.entry.key, caseSensitive),
                SortKey(byValue ? b.entry.value : b.entry.key, caseSensitive), position) * (reverse ? -1 : 1);
            return order != 0 ? order : a.index.CompareTo(b.index);
        });
        return sorted.Select(pair => (object?)new TemplateTuple([pair.entry.key, pair.entry.value])).ToList();
    }
}
