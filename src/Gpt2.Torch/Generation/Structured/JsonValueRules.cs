using System.Text;

namespace Gpt2.Torch.Generation.Structured;

/// <summary>
/// The lexical rules of one grammar's JSON: strings (escapes, valid UTF-8, optionally bounded length), numbers,
/// integers, literals, the optional space, and any value, object or array; each made once and shared by the schema's
/// rules. Every rule made is listed in <see cref="Rules"/>.
/// </summary>
/// <remarks>
/// <para>Whitespace: none, except one optional space after <c>:</c> and after <c>,</c>: what models write in compact
/// and in Python-style JSON, while a model can never pad a document forever.</para>
/// <para>Numbers: at most <see cref="MaxIntegerDigits"/> integer digits, <see cref="MaxFractionDigits"/> fraction digits
/// and <see cref="MaxExponentDigits"/> exponent digits, so that a number always ends and always fits a double (and
/// integers fit a long). Strings: <c>\u</c> escapes name no surrogate (a character beyond the basic plane is written
/// in UTF-8), so that every escape is one whole character and the string always decodes.</para>
/// </remarks>
internal sealed class JsonValueRules
{
    public const int MaxIntegerDigits = 15;
    public const int MaxFractionDigits = 15;
    public const int MaxExponentDigits = 2;

    private readonly Dictionary<(int, int?), GrammarRule> _strings = [];
    private GrammarRule? _space, _number, _integer, _boolean, _null, _any, _anyObject, _anyArray;

    public List<GrammarRule> Rules { get; } = [];

    public GrammarRule NewRule(string name)
    {
        var rule = new GrammarRule(name);
        Rules.Add(rule);
        return rule;
    }

    /// <summary>Nothing or one space.</summary>
    public GrammarRule Space => _space ??= Made("space", rule =>
    {
        rule.Accept(GrammarRule.Start);
        rule.AddByte(GrammarRule.Start, (byte)' ', rule.AddState(accepting: true));
    });

    /// <summary>The JSON text of a value, <paramref name="json"/> exactly.</summary>
    public GrammarRule Literal(string name, ReadOnlySpan<byte> json)
    {
        GrammarRule rule = NewRule(name);
        rule.Accept(rule.AddLiteral(GrammarRule.Start, json));
        return rule;
    }

    public GrammarRule Boolean => _boolean ??= Made("boolean", rule =>
    {
        rule.Accept(rule.AddLiteral(GrammarRule.Start, "true"u8));
        rule.Accept(rule.AddLiteral(GrammarRule.Start, "false"u8));
    });

    public GrammarRule Null => _null ??= Made("null", rule => rule.Accept(rule.AddLiteral(GrammarRule.Start, "null"u8)));

    public GrammarRule Integer => _integer ??= Made("integer", rule => IntegerPart(rule));

    public GrammarRule Number => _number ??= Made("number", rule =>
    {
        int[] integerEnds = IntegerPart(rule);
        int point = rule.AddState();
        int exponent = rule.AddState();
        foreach (int end in integerEnds)
        {
            rule.AddByte(end, (byte)'.', point);
            rule.AddBytes(end, (byte)'e', (byte)'e', exponent);
            rule.AddBytes(end, (byte)'E', (byte)'E', exponent);
        }
        int previous = point;
        for (int digits = 1; digits <= MaxFractionDigits; digits++)
        {
            int next = rule.AddState(accepting: true);
            rule.AddBytes(previous, (byte)'0', (byte)'9', next);
            rule.AddByte(next, (byte)'e', exponent);
            rule.AddByte(next, (byte)'E', exponent);
            previous = next;
        }
        int sign = rule.AddState();
        rule.AddByte(exponent, (byte)'+', sign);
        rule.AddByte(exponent, (byte)'-', sign);
        int first = rule.AddState(accepting: true);
        rule.AddBytes(exponent, (byte)'0', (byte)'9', first);
        rule.AddBytes(sign, (byte)'0', (byte)'9', first);
        previous = first;
        for (int digits = 2; digits <= MaxExponentDigits; digits++)
        {
            int next = rule.AddState(accepting: true);
            rule.AddBytes(previous, (byte)'0', (byte)'9', next);
            previous = next;
        }
    });

    // -?(0|[1-9][0-9]{0,14}): the states where the integer may end.
    private static int[] IntegerPart(GrammarRule rule)
    {
        int minus = rule.AddState();
        rule.AddByte(GrammarRule.Start, (byte)'-', minus);
        int zero = rule.AddState(accepting: true);
        rule.AddByte(GrammarRule.Start, (byte)'0', zero);
        rule.AddByte(minus, (byte)'0', zero);
        var ends = new List<int> { zero };
        int previous = rule.AddState(accepting: true);
        rule.AddBytes(GrammarRule.Start, (byte)'1', (byte)'9', previous);
        rule.AddBytes(minus, (byte)'1', (byte)'9', previous);
        ends.Add(previous);
        for (int digits = 2; digits <= MaxIntegerDigits; digits++)
        {
            int next = rule.AddState(accepting: true);
            rule.AddBytes(previous, (byte)'0', (byte)'9', next);
            ends.Add(next);
            previous = next;
        }
        return [.. ends];
    }

    /// <summary>A JSON string of <paramref name="minLength"/> to <paramref name="maxLength"/> characters (Unicode code points).</summary>
    public GrammarRule String(int minLength = 0, int? maxLength = null)
    {
        if (_strings.TryGetValue((minLength, maxLength), out GrammarRule? known))
            return known;
        GrammarRule rule = NewRule(maxLength is null && minLength == 0 ? "string" : $"string of {minLength} to {maxLength?.ToString() ?? "any"} characters");
        _strings.Add((minLength, maxLength), rule);
        // One "between characters" state per count of characters so far: up to maxLength, or up to minLength and then one
        // that loops.
        int counts = (maxLength ?? minLength) + 1;
        int[] between = new int[counts];
        for (int count = 0; count < counts; count++)
            between[count] = rule.AddState();
        rule.AddByte(GrammarRule.Start, (byte)'"', between[0]);
        int end = rule.AddState(accepting: true);
        for (int count = 0; count < counts; count++)
        {
            int from = between[count];
            if (count >= minLength)
                rule.AddByte(from, (byte)'"', end);
            if (maxLength is int max && count >= max)
                continue;
            int after = between[Math.Min(count + 1, counts - 1)];
            Character(rule, from, after);
        }
        return rule;
    }

    // One character of a string's content from `from` to `after`: printable ASCII but '"' and '\', an escape, or a
    // multi-byte UTF-8 character (the well-formed sequences of the Unicode standard's table 3-7).
    private static void Character(GrammarRule rule, int from, int after)
    {
        rule.AddBytes(from, 0x20, 0x21, after);
        rule.AddBytes(from, 0x23, 0x5B, after);
        rule.AddBytes(from, 0x5D, 0x7F, after);

        int escape = rule.AddState();
        rule.AddByte(from, (byte)'\\', escape);
        foreach (byte escaped in "\"\\/bfnrt"u8)
            rule.AddByte(escape, escaped, after);
        int[] hex = [rule.AddState(), rule.AddState(), rule.AddState()];
        int u = rule.AddState();
        rule.AddByte(escape, (byte)'u', u);
        Hex(rule, u, hex[0], exceptD: true);
        int d = rule.AddState();   // \uD: a surrogate unless 0 to 7 follows
        rule.AddByte(u, (byte)'D', d);
        rule.AddByte(u, (byte)'d', d);
        rule.AddBytes(d, (byte)'0', (byte)'7', hex[1]);
        Hex(rule, hex[0], hex[1]);
        Hex(rule, hex[1], hex[2]);
        Hex(rule, hex[2], after);

        int one = rule.AddState(), two = rule.AddState(), three = rule.AddState();   // continuation bytes still to come
        rule.AddBytes(one, 0x80, 0xBF, after);
        rule.AddBytes(two, 0x80, 0xBF, one);
        rule.AddBytes(three, 0x80, 0xBF, two);
        rule.AddBytes(from, 0xC2, 0xDF, one);
        int e0 = rule.AddState(), ed = rule.AddState(), f0 = rule.AddState(), f4 = rule.AddState();
        rule.AddByte(from, 0xE0, e0);
        rule.AddBytes(e0, 0xA0, 0xBF, one);
        rule.AddBytes(from, 0xE1, 0xEC, two);
        rule.AddByte(from, 0xED, ed);
        rule.AddBytes(ed, 0x80, 0x9F, one);
        rule.AddBytes(from, 0xEE, 0xEF, two);
        rule.AddByte(from, 0xF0, f0);
        rule.AddBytes(f0, 0x90, 0xBF, two);
        rule.AddBytes(from, 0xF1, 0xF3, three);
        rule.AddByte(from, 0xF4, f4);
        rule.AddBytes(f4, 0x80, 0x8F, two);
    }

    // A hex digit; from the first digit of \u, not 'd' or 'D' (which Character reads on its own).
    private static void Hex(GrammarRule rule, int from, int to, bool exceptD = false)
    {
        rule.AddBytes(from, (byte)'0', (byte)'9', to);
        if (exceptD)
        {
            rule.AddBytes(from, (byte)'a', (byte)'c', to);
            rule.AddBytes(from, (byte)'e', (byte)'f', to);
            rule.AddBytes(from, (byte)'A', (byte)'C', to);
            rule.AddBytes(from, (byte)'E', (byte)'F', to);
            return;
        }
        rule.AddBytes(from, (byte)'a', (byte)'f', to);
        rule.AddBytes(from, (byte)'A', (byte)'F', to);
    }

    /// <summary>Any JSON value.</summary>
    public GrammarRule Any
    {
        get
        {
            if (_any is not null)
                return _any;
            // The three call each other: all are named before any is built.
            _any = NewRule("any value");
            _anyObject = NewRule("any object");
            _anyArray = NewRule("any array");
            int end = _any.AddState(accepting: true);
            foreach (GrammarRule value in new[] { String(), Number, Boolean, Null, _anyObject, _anyArray })
                _any.AddCall(GrammarRule.Start, value, end);
            Map(_anyObject, _any);
            Array(_anyArray, _any, 0, null);
            return _any;
        }
    }

    /// <summary>Any JSON object.</summary>
    public GrammarRule AnyObject
    {
        get
        {
            _ = Any;
            return _anyObject!;
        }
    }

    /// <summary>An object of any keys whose values match <paramref name="values"/>, made into <paramref name="rule"/>.</summary>
    public void Map(GrammarRule rule, GrammarRule values)
    {
        int open = rule.AddState();
        int end = rule.AddState(accepting: true);
        rule.AddByte(GrammarRule.Start, (byte)'{', open);
        rule.AddByte(open, (byte)'}', end);
        int key = rule.AddState();
        rule.AddCall(open, String(), key);
        int colon = rule.AddLiteral(key, ":"u8);
        int space = rule.AddState();
        rule.AddCall(colon, Space, space);
        int member = rule.AddState();
        rule.AddCall(space, values, member);
        rule.AddByte(member, (byte)'}', end);
        int comma = rule.AddLiteral(member, ","u8);
        int next = rule.AddState();
        rule.AddCall(comma, Space, next);
        rule.AddCall(next, String(), key);
    }

    /// <summary>An array of <paramref name="minItems"/> to <paramref name="maxItems"/> items matching <paramref name="items"/>, made into <paramref name="rule"/>.</summary>
    public void Array(GrammarRule rule, GrammarRule items, int minItems, int? maxItems)
    {
        int counts = (maxItems ?? Math.Max(minItems, 1)) + 1;
        int[] after = new int[counts];   // after[n]: n items read
        after[0] = rule.AddState();
        rule.AddByte(GrammarRule.Start, (byte)'[', after[0]);
        for (int count = 1; count < counts; count++)
            after[count] = rule.AddState();
        int end = rule.AddState(accepting: true);
        for (int count = 0; count < counts; count++)
        {
            if (count >= minItems)
                rule.AddByte(after[count], (byte)']', end);
            if (maxItems is int max && count >= max)
                continue;
            int next = after[Math.Min(count + 1, counts - 1)];
            if (count == 0)
            {
                rule.AddCall(after[0], items, next);
                continue;
            }
            int comma = rule.AddLiteral(after[count], ","u8);
            int space = rule.AddState();
            rule.AddCall(comma, Space, space);
            rule.AddCall(space, items, next);
        }
    }

    private GrammarRule Made(string name, Action<GrammarRule> build)
    {
        GrammarRule rule = NewRule(name);
        build(rule);
        return rule;
    }
}
