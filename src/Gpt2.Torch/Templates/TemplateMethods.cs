using System.Text;

namespace Gpt2.Torch.Templates;

/// <summary>
/// The Python methods templates call on strings (<c>strip</c>, <c>split</c>, <c>startswith</c>, ...) and dicts
/// (<c>items</c>, <c>keys</c>, <c>values</c>, <c>get</c>). Methods that change a value (<c>append</c>, <c>update</c>)
/// are refused, as transformers' immutable sandbox refuses them.
/// </summary>
internal static class TemplateMethods
{
    private static readonly HashSet<string> MutatingMethods = new(StringComparer.Ordinal)
    {
        "append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "popitem", "sort", "reverse",
    };

    /// <summary>The method <paramref name="name"/> of <paramref name="target"/> bound to it, or null when it has none.</summary>
    public static TemplateCallable? Bind(object? target, string name) => target switch
    {
        string text => StringMethod(text, name),
        OrderedDictionary<string, object?> dict => DictMethod(dict, name),
        List<object?> when MutatingMethods.Contains(name) => Refuse(name, "list"),
        _ => null,
    };

    private static NativeCallable Refuse(string name, string type) => new(name, (_, _, position) =>
        throw position.Error($"'{type}.{name}' changes a value: the chat template sandbox does not allow it"));

    private static NativeCallable? DictMethod(OrderedDictionary<string, object?> dict, string name) => name switch
    {
        "items" => new(name, (_, _, _) => dict.Select(entry => (object?)new TemplateTuple([entry.Key, entry.Value])).ToList()),
        "keys" => new(name, (_, _, _) => dict.Keys.Cast<object?>().ToList()),
        "values" => new(name, (_, _, _) => dict.Values.ToList()),
        "get" => new(name, (arguments, _, position) =>
        {
            var key = Argument(arguments, 0, name, position);
            return key is string k && dict.TryGetValue(k, out var value) ? value : arguments.Count > 1 ? arguments[1] : null;
        }),
        _ when MutatingMethods.Contains(name) => Refuse(name, "dict"),
        _ => null,
    };

    private static NativeCallable? StringMethod(string text, string name) => name switch
    {
        "strip" => new(name, (arguments, _, position) => Strip(text, OptionalChars(arguments, position), start: true, end: true)),
        "lstrip" => new(name, (arguments, _, position) => Strip(text, OptionalChars(arguments, position), start: true, end: false)),
        "rstrip" => new(name, (arguments, _, position) => Strip(text, OptionalChars(arguments, position), start: false, end: true)),
        "split" => new(name, (arguments, keywords, position) => Split(text, arguments, keywords, position)),
        "startswith" => new(name, (arguments, _, position) =>
            Affixes(Argument(arguments, 0, name, position), position).Any(prefix => text.StartsWith(prefix, StringComparison.Ordinal))),
        "endswith" => new(name, (arguments, _, position) =>
            Affixes(Argument(arguments, 0, name, position), position).Any(suffix => text.EndsWith(suffix, StringComparison.Ordinal))),
        "upper" => new(name, (_, _, _) => text.ToUpperInvariant()),
        "lower" => new(name, (_, _, _) => text.ToLowerInvariant()),
        "title" => new(name, (_, _, _) => PythonTitle(text)),
        "capitalize" => new(name, (_, _, _) => Capitalize(text)),
        "replace" => new(name, (arguments, _, position) =>
            Replace(text, StringArgument(arguments, 0, name, position), StringArgument(arguments, 1, name, position),
                arguments.Count > 2 ? TemplateValues.ToLong(arguments[2]) : -1)),
        "find" => new(name, (arguments, _, position) => (long)text.IndexOf(StringArgument(arguments, 0, name, position), StringComparison.Ordinal)),
        "count" => new(name, (arguments, _, position) => CountOccurrences(text, StringArgument(arguments, 0, name, position))),
        "join" => new(name, (arguments, _, position) =>
            string.Join(text, TemplateIteration.Items(Argument(arguments, 0, name, position), position).Select(TemplateValues.ToText))),
        "isdigit" => new(name, (_, _, _) => text.Length > 0 && text.All(char.IsDigit)),
        "isspace" => new(name, (_, _, _) => text.Length > 0 && text.All(char.IsWhiteSpace)),
        _ => null,
    };

    private static object? Argument(IReadOnlyList<object?> arguments, int index, string method, SourcePosition position) =>
        index < arguments.Count ? arguments[index] : throw position.Error($"'{method}' is missing argument {index + 1}");

    private static string StringArgument(IReadOnlyList<object?> arguments, int index, string method, SourcePosition position) =>
        Argument(arguments, index, method, position) as string
        ?? throw position.Error($"'{method}' argument {index + 1} must be a string, not '{TemplateValues.TypeName(arguments[index])}'");

    private static string? OptionalChars(IReadOnlyList<object?> arguments, SourcePosition position) =>
        arguments.Count == 0 || arguments[0] is null ? null
        : arguments[0] as string ?? throw position.Error("strip arguments must be strings or none");

    private static IEnumerable<string> Affixes(object? argument, SourcePosition position) => argument switch
    {
        string s => [s],
        List<object?> list => list.Select(item => item as string ?? throw position.Error("startswith/endswith takes strings")),
        _ => throw position.Error("startswith/endswith takes a string or a tuple of strings"),
    };

    /// <summary>Python's str.strip: whitespace when <paramref name="characters"/> is null, else any of those characters.</summary>
    public static string Strip(string text, string? characters, bool start, bool end)
    {
        int from = 0, to = text.Length;
        bool Strips(char c) => characters is null ? char.IsWhiteSpace(c) : characters.Contains(c);
        if (start) while (from < to && Strips(text[from])) from++;
        if (end) while (to > from && Strips(text[to - 1])) to--;
        return text[from..to];
    }

    private static List<object?> Split(string text, IReadOnlyList<object?> arguments, IReadOnlyDictionary<string, object?> keywords, SourcePosition position)
    {
        object? separator = arguments.Count > 0 ? arguments[0] : keywords.GetValueOrDefault("sep");
        long maxSplit = arguments.Count > 1 ? TemplateValues.ToLong(arguments[1])
            : keywords.TryGetValue("maxsplit", out var m) ? TemplateValues.ToLong(m) : -1;
        if (separator is null)
        {
            // No separator: runs of whitespace split, and empty pieces are dropped.
            var words = new List<object?>();
            int i = 0;
            while (i < text.Length)
            {
                while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
                if (i >= text.Length) break;
                if (maxSplit >= 0 && words.Count == maxSplit)
                {
                    words.Add(text[i..].TrimEnd());
                    break;
                }
                int startWord = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i])) i++;
                words.Add(text[startWord..i]);
            }
            return words;
        }
        if (separator is not string sep || sep.Length == 0)
        {
            throw position.Error("split separator must be a non-empty string");
        }
        var pieces = new List<object?>();
        int from = 0;
        while (maxSplit < 0 || pieces.Count < maxSplit)
        {
            int at = text.IndexOf(sep, from, StringComparison.Ordinal);
            if (at < 0) break;
            pieces.Add(text[from..at]);
            from = at + sep.Length;
        }
        pieces.Add(text[from..]);
        return pieces;
    }

    public static string Replace(string text, string old, string replacement, long count)
    {
        if (count < 0)
        {
            return old.Length == 0 ? InsertBetweenCharacters(text, replacement) : text.Replace(old, replacement, StringComparison.Ordinal);
        }
        var builder = new StringBuilder();
        int from = 0;
        for (long done = 0; done < count; done++)
        {
            int at = text.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0 || old.Length == 0) break;
            builder.Append(text, from, at - from).Append(replacement);
            from = at + old.Length;
        }
        return builder.Append(text, from, text.Length - from).ToString();
    }

    private static string InsertBetweenCharacters(string text, string insert) =>
        insert + string.Concat(TemplateIteration.Characters(text).Select(c => (string)c! + insert));

    private static long CountOccurrences(string text, string part)
    {
        if (part.Length == 0) return TemplateIteration.Characters(text).LongCount() + 1;
        long count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    /// <summary>Python's str.title: a letter after a non-letter is upper case, other letters lower case.</summary>
    public static string PythonTitle(string text)
    {
        var builder = new StringBuilder(text.Length);
        bool previousIsLetter = false;
        foreach (char c in text)
        {
            builder.Append(char.IsLetter(c) ? previousIsLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c) : c);
            previousIsLetter = char.IsLetter(c);
        }
        return builder.ToString();
    }

    public static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].ToLowerInvariant();
}
