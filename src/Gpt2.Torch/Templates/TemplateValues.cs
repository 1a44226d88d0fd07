using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Gpt2.Torch.Templates;

/// <summary>
/// The values templates compute with, and Python's rules for them (transformers renders with Python's Jinja): none is
/// null, booleans are bool, integers long, floats double, strings string, lists <see cref="List{T}"/> of values, dicts
/// <see cref="OrderedDictionary{TKey,TValue}"/> with string keys, plus <see cref="Undefined"/>,
/// <see cref="TemplateNamespace"/> and <see cref="TemplateCallable"/>.
/// </summary>
internal static class TemplateValues
{
    public static bool IsTrue(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        TemplateTuple => "tuple",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        TemplateNamespace => "Namespace",
        TemplateCallable => "function",
        _ => value.GetType().Name,
    };

    /// <summary>Python's <c>str(value)</c>: what <c>{{ value }}</c> prints.</summary>
    public static string ToText(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    /// <summary>Python's <c>repr(value)</c>: how values print inside lists and dicts.</summary>
    public static string Repr(object? value)
    {
        var builder = new StringBuilder();
        AppendRepr(builder, value);
        return builder.ToString();
    }

    private static void AppendRepr(StringBuilder builder, object? value)
    {
        switch (value)
        {
            case null: builder.Append("None"); break;
            case Undefined: break;
            case bool b: builder.Append(b ? "True" : "False"); break;
            case long l: builder.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: builder.Append(FormatFloat(d)); break;
            case string s: AppendStringRepr(builder, s); break;
            case List<object?> list:
                bool tuple = list is TemplateTuple;
                builder.Append(tuple ? '(' : '[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) builder.Append(", ");
                    AppendRepr(builder, list[i]);
                }
                if (tuple && list.Count == 1) builder.Append(',');
                builder.Append(tuple ? ')' : ']');
                break;
            case OrderedDictionary<string, object?> dict:
                builder.Append('{');
                bool first = true;
                foreach (var (key, item) in dict)
                {
                    if (!first) builder.Append(", ");
                    first = false;
                    AppendStringRepr(builder, key);
                    builder.Append(": ");
                    AppendRepr(builder, item);
                }
                builder.Append('}');
                break;
            case TemplateNamespace: builder.Append("<Namespace>"); break;
            case TemplateCallable callable: builder.Append("<function ").Append(callable.Name).Append('>'); break;
            default: builder.Append(value); break;
        }
    }

    private static void AppendStringRepr(StringBuilder builder, string text)
    {
        char quote = text.Contains('\'') && !text.Contains('"') ? '"' : '\'';
        builder.Append(quote);
        foreach (char c in text)
        {
            switch (c)
            {
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    if (c == quote) builder.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) builder.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else builder.Append(c);
                    break;
            }
        }
        builder.Append(quote);
    }

    /// <summary>Python's repr of a float: the shortest text that reads back, with ".0" on integral values.</summary>
    public static string FormatFloat(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        if (value == Math.Floor(value) && Math.Abs(value) < 1e16)
        {
            return value.ToString("F1", CultureInfo.InvariantCulture) is var text && text == "-0.0" ? "-0.0" : text;
        }
        string shortest = value.ToString("R", CultureInfo.InvariantCulture);
        int exponent = shortest.IndexOf('E');
        if (exponent < 0)
        {
            return shortest;
        }
        // .NET writes 1E+20 and 1E-05; Python writes 1e+20 and 1e-05.
        string mantissa = shortest[..exponent];
        int power = int.Parse(shortest[(exponent + 1)..], CultureInfo.InvariantCulture);
        return $"{mantissa}e{(power < 0 ? '-' : '+')}{Math.Abs(power):00}";
    }

    /// <summary>Python's <c>==</c>: numbers compare by value across int, float and bool; lists and dicts deeply.</summary>
    public static bool AreEqual(object? left, object? right)
    {
        if (left is Undefined || right is Undefined)
        {
            return left is Undefined && right is Undefined;
        }
        if (IsNumber(left) && IsNumber(right))
        {
            return left is double || right is double ? ToDouble(left) == ToDouble(right) : ToLong(left) == ToLong(right);
        }
        return (left, right) switch
        {
            (null, null) => true,
            (string a, string b) => string.Equals(a, b, StringComparison.Ordinal),
            (List<object?> a, List<object?> b) => a.Count == b.Count && a.Zip(b).All(pair => AreEqual(pair.First, pair.Second)),
            (OrderedDictionary<string, object?> a, OrderedDictionary<string, object?> b) =>
                a.Count == b.Count && a.All(entry => b.TryGetValue(entry.Key, out var other) && AreEqual(entry.Value, other)),
            _ => ReferenceEquals(left, right),
        };
    }

    /// <summary>Python's ordering for <c>&lt;</c>, <c>sort</c> and <c>dictsort</c>: numbers, strings (by code point), lists.</summary>
    public static int Compare(object? left, object? right, SourcePosition position)
    {
        if (IsNumber(left) && IsNumber(right))
        {
            return left is double || right is double ? ToDouble(left).CompareTo(ToDouble(right)) : ToLong(left).CompareTo(ToLong(right));
        }
        if (left is string a && right is string b)
        {
            return string.CompareOrdinal(a, b);
        }
        if (left is List<object?> x && right is List<object?> y)
        {
            for (int i = 0; i < Math.Min(x.Count, y.Count); i++)
            {
                int order = Compare(x[i], y[i], position);
                if (order != 0) return order;
            }
            return x.Count.CompareTo(y.Count);
        }
        throw position.Error($"cannot compare '{TypeName(left)}' with '{TypeName(right)}'");
    }

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => 0,
    };

    public static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => 0,
    };

    /// <summary>Converts what a caller passes (strings, numbers, JSON, lists, dictionaries) to template values.</summary>
    public static object? FromClr(object? value) => value switch
    {
        null => null,
        string or bool or long or double => value,
        int i => (long)i,
        float f => (double)f,
        decimal m => (double)m,
        JsonElement element => FromJson(element),
        DateTimeOffset or DateTime => value.ToString(),
        IReadOnlyDictionary<string, object?> dict => ToDictionary(dict),
        IDictionary<string, object?> dict => ToDictionary(dict),
        System.Collections.IEnumerable items => items.Cast<object?>().Select(FromClr).ToList(),
        _ => throw new ArgumentException($"A chat template variable cannot be a {value.GetType().Name}: use strings, numbers, booleans, JsonElement, lists or string-keyed dictionaries."),
    };

    private static OrderedDictionary<string, object?> ToDictionary(IEnumerable<KeyValuePair<string, object?>> entries)
    {
        var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, item) in entries)
        {
            dict[key] = FromClr(item);
        }
        return dict;
    }

    /// <summary>JSON as Python's json.loads reads it: a number with a fraction or exponent is a float, others ints.</summary>
    public static object? FromJson(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    dict[property.Name] = FromJson(property.Value);
                }
                return dict;
            case JsonValueKind.Array:
                return element.EnumerateArray().Select(FromJson).ToList();
            case JsonValueKind.String:
                return element.GetString();
            case JsonValueKind.Number:
                string raw = element.GetRawText();
                return raw.IndexOfAny(['.', 'e', 'E']) < 0 && element.TryGetInt64(out long integer) ? (object)integer : element.GetDouble();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                return null;
        }
    }
}
