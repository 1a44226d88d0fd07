using System.Globalization;
using System.Text;

namespace Gpt2.Torch.Templates;

/// <summary>
/// The <c>tojson</c> filter as transformers defines it: Python's <c>json.dumps(value, ensure_ascii=False, indent=...,
/// separators=..., sort_keys=...)</c>, so <c>", "</c> and <c>": "</c> between items (<c>","</c> when indenting), non-ASCII
/// characters as they are, floats as Python prints them.
/// </summary>
internal static class PythonJson
{
    public static string Serialize(object? value, int? indent, bool ensureAscii, (string Item, string Key)? separators,
        bool sortKeys, SourcePosition position)
    {
        var (item, key) = separators ?? (indent is null ? (", ", ": ") : (",", ": "));
        var builder = new StringBuilder();
        Write(builder, value, indent, ensureAscii, item, key, sortKeys, 0, position);
        return builder.ToString();
    }

    private static void Write(StringBuilder builder, object? value, int? indent, bool ensureAscii, string item, string key,
        bool sortKeys, int depth, SourcePosition position)
    {
        switch (value)
        {
            case null: builder.Append("null"); break;
            case bool b: builder.Append(b ? "true" : "false"); break;
            case long l: builder.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                builder.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity"
                    : double.IsNegativeInfinity(d) ? "-Infinity" : TemplateValues.FormatFloat(d));
                break;
            case string s: WriteString(builder, s, ensureAscii); break;
            case List<object?> list:
                WriteContainer(builder, '[', ']', list, indent, item, depth, element =>
                    Write(builder, element, indent, ensureAscii, item, key, sortKeys, depth + 1, position));
                break;
            case OrderedDictionary<string, object?> dict:
                IEnumerable<KeyValuePair<string, object?>> entries = sortKeys ? dict.OrderBy(e => e.Key, StringComparer.Ordinal) : dict;
                WriteContainer(builder, '{', '}', entries.ToList(), indent, item, depth, entry =>
                {
                    WriteString(builder, entry.Key, ensureAscii);
                    builder.Append(key);
                    Write(builder, entry.Value, indent, ensureAscii, item, key, sortKeys, depth + 1, position);
                });
                break;
            case TemplateNamespace ns:
                Write(builder, ns.Attributes, indent, ensureAscii, item, key, sortKeys, depth, position);
                break;
            case Undefined undefined:
                throw position.Error($"{undefined.Description}, so tojson cannot write it");
            default:
                throw position.Error($"Object of type {TemplateValues.TypeName(value)} is not JSON serializable");
        }
    }

    private static void WriteContainer<T>(StringBuilder builder, char open, char close, IReadOnlyList<T> items, int? indent,
        string separator, int depth, Action<T> writeItem)
    {
        builder.Append(open);
        if (items.Count > 0)
        {
            for (int i = 0; i < items.Count; i++)
            {
                if (i > 0) builder.Append(separator);
                if (indent is { } spaces) builder.Append('\n').Append(' ', spaces * (depth + 1));
                writeItem(items[i]);
            }
            if (indent is { } closing) builder.Append('\n').Append(' ', closing * depth);
        }
        builder.Append(close);
    }

    private static void WriteString(StringBuilder builder, string text, bool ensureAscii)
    {
        builder.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7f))
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }
                    break;
            }
        }
        builder.Append('"');
    }
}
