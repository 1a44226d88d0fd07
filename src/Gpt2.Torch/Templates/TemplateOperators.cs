namespace Gpt2.Torch.Templates;

/// <summary>
/// Arithmetic, concatenation and comparison with Python's rules: int op int stays int (except <c>/</c>), a float makes
/// a float, <c>//</c> and <c>%</c> floor, strings and lists concatenate with <c>+</c> and repeat with <c>*</c>;
/// mixing types otherwise fails, as Python does, and so does arithmetic on undefined.
/// </summary>
internal static class TemplateOperators
{
    public static object? Unary(string op, object? operand, SourcePosition position)
    {
        if (op == "not")
        {
            return !TemplateValues.IsTrue(operand);
        }
        return operand switch
        {
            long l when op == "-" => -l,
            double d when op == "-" => -d,
            bool b when op == "-" => b ? -1L : 0L,
            long or double => operand,
            bool b => b ? 1L : 0L,
            _ => throw Unsupported($"unary {op}", operand, null, position),
        };
    }

    public static object? Binary(string op, object? left, object? right, SourcePosition position)
    {
        if (op == "~")
        {
            return TemplateValues.ToText(left) + TemplateValues.ToText(right);
        }
        if (left is Undefined || right is Undefined)
        {
            var undefined = (Undefined)(left is Undefined ? left : right)!;
            throw position.Error($"{undefined.Description}, so it cannot be used with '{op}'");
        }
        if (TemplateValues.IsNumber(left) && TemplateValues.IsNumber(right))
        {
            return Arithmetic(op, left, right, position);
        }
        return (op, left, right) switch
        {
            ("+", string a, string b) => a + b,
            ("+", List<object?> a, List<object?> b) => a.Concat(b).ToList(),
            ("*", string a, long or bool) => Repeat(a, TemplateValues.ToLong(right)),
            ("*", long or bool, string b) => Repeat(b, TemplateValues.ToLong(left)),
            ("*", List<object?> a, long or bool) => Enumerable.Repeat(a, (int)Math.Max(0, TemplateValues.ToLong(right))).SelectMany(x => x).ToList(),
            ("*", long or bool, List<object?> b) => Enumerable.Repeat(b, (int)Math.Max(0, TemplateValues.ToLong(left))).SelectMany(x => x).ToList(),
            ("%", string, _) => throw position.Error("'%' string formatting is not supported by this chat template interpreter: use '~' or '+'"),
            _ => throw Unsupported(op, left, right, position),
        };
    }

    private static string Repeat(string text, long times) => times <= 0 ? "" : string.Concat(Enumerable.Repeat(text, (int)times));

    private static object Arithmetic(string op, object? left, object? right, SourcePosition position)
    {
        bool integers = left is not double && right is not double;
        if (integers && op is not "/")
        {
            long a = TemplateValues.ToLong(left), b = TemplateValues.ToLong(right);
            switch (op)
            {
                case "+": return a + b;
                case "-": return a - b;
                case "*": return a * b;
                case "**": return b >= 0 ? (object)(long)Math.Pow(a, b) : Math.Pow(a, b);
                case "//" or "%" when b == 0: throw position.Error("integer division or modulo by zero");
                case "//": return FloorDivide(a, b);
                case "%": return ((a % b) + b) % b;
            }
        }
        double x = TemplateValues.ToDouble(left), y = TemplateValues.ToDouble(right);
        if (y == 0 && op is "/" or "//" or "%")
        {
            throw position.Error("division by zero");
        }
        return op switch
        {
            "+" => x + y,
            "-" => x - y,
            "*" => x * y,
            "/" => x / y,
            "//" => Math.Floor(x / y),
            "%" => x - y * Math.Floor(x / y),
            "**" => Math.Pow(x, y),
            _ => throw position.Error($"Unknown operator '{op}'"),
        };
    }

    private static long FloorDivide(long a, long b)
    {
        long quotient = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? quotient - 1 : quotient;
    }

    public static bool Compare(string op, object? left, object? right, SourcePosition position) => op switch
    {
        "==" => TemplateValues.AreEqual(left, right),
        "!=" => !TemplateValues.AreEqual(left, right),
        "<" => TemplateValues.Compare(left, right, position) < 0,
        ">" => TemplateValues.Compare(left, right, position) > 0,
        "<=" => TemplateValues.Compare(left, right, position) <= 0,
        ">=" => TemplateValues.Compare(left, right, position) >= 0,
        "in" => Contains(right, left, position),
        "not in" => !Contains(right, left, position),
        _ => throw position.Error($"Unknown comparison '{op}'"),
    };

    public static bool Contains(object? container, object? item, SourcePosition position) => container switch
    {
        string text => item is string part
            ? text.Contains(part, StringComparison.Ordinal)
            : throw position.Error($"'in <string>' requires a string on the left, not '{TemplateValues.TypeName(item)}'"),
        List<object?> list => list.Any(element => TemplateValues.AreEqual(element, item)),
        OrderedDictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        TemplateNamespace ns => item is string name && ns.Attributes.ContainsKey(name),
        Undefined => false,
        _ => throw position.Error($"argument of type '{TemplateValues.TypeName(container)}' is not iterable"),
    };

    private static ChatTemplateException Unsupported(string op, object? left, object? right, SourcePosition position) =>
        position.Error(right is null && op.StartsWith("unary", StringComparison.Ordinal)
            ? $"bad operand type for {op}: '{TemplateValues.TypeName(left)}'"
            : $"unsupported operand type(s) for {op}: '{TemplateValues.TypeName(left)}' and '{TemplateValues.TypeName(right)}'");
}
