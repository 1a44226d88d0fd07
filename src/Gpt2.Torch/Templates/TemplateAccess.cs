namespace Gpt2.Torch.Templates;

/// <summary>
/// <c>x.name</c>, <c>x[key]</c> and <c>x[a:b:c]</c> as Jinja resolves them: a dict's methods (items, keys, values, get)
/// before its keys for <c>.name</c>, keys before methods for <c>[name]</c>; a missing key, attribute or index gives
/// undefined; anything looked up on undefined fails (Jinja's default Undefined).
/// </summary>
internal static class TemplateAccess
{
    public static object? Attribute(object? target, string name, SourcePosition position)
    {
        switch (target)
        {
            case Undefined undefined:
                throw position.Error($"{undefined.Description}, so it has no attribute '{name}'");
            case OrderedDictionary<string, object?> dict:
                if (TemplateMethods.Bind(target, name) is { } dictMethod) return dictMethod;
                return dict.TryGetValue(name, out var value) ? value : new Undefined($"'dict object' has no attribute '{name}'");
            case TemplateNamespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : new Undefined($"namespace has no attribute '{name}'");
            default:
                return (object?)TemplateMethods.Bind(target, name)
                    ?? new Undefined($"'{TemplateValues.TypeName(target)} object' has no attribute '{name}'");
        }
    }

    public static object? Item(object? target, object? key, SourcePosition position)
    {
        switch (target)
        {
            case Undefined undefined:
                throw position.Error($"{undefined.Description}, so it has no item {TemplateValues.Repr(key)}");
            case OrderedDictionary<string, object?> dict when key is string name:
                return dict.TryGetValue(name, out var value) ? value : new Undefined($"'dict object' has no attribute '{name}'");
            case List<object?> list when key is long or bool:
                long index = TemplateValues.ToLong(key);
                if (index < 0) index += list.Count;
                return index >= 0 && index < list.Count ? list[(int)index] : new Undefined($"list index {key} out of range");
            case string text when key is long or bool:
                var characters = TemplateIteration.Characters(text).ToList();
                long at = TemplateValues.ToLong(key);
                if (at < 0) at += characters.Count;
                return at >= 0 && at < characters.Count ? characters[(int)at] : new Undefined($"string index {key} out of range");
            default:
                return key is string attribute ? Attribute(target, attribute, position) : new Undefined($"no item {TemplateValues.Repr(key)}");
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step, SourcePosition position)
    {
        List<object?> items = target switch
        {
            List<object?> list => list,
            string text => TemplateIteration.Characters(text).ToList(),
            Undefined undefined => throw position.Error($"{undefined.Description}, so it cannot be sliced"),
            _ => throw position.Error($"'{TemplateValues.TypeName(target)}' object cannot be sliced"),
        };
        var selected = SliceIndices(items.Count, start, stop, step, position).Select(i => items[i]).ToList();
        return target is string ? string.Concat(selected.Cast<string>()) : selected;
    }

    /// <summary>Python's slice.indices: negative bounds count from the end, out-of-range bounds clamp.</summary>
    private static IEnumerable<int> SliceIndices(int count, object? start, object? stop, object? step, SourcePosition position)
    {
        long stride = step is null ? 1 : AsIndex(step, position);
        if (stride == 0)
        {
            throw position.Error("slice step cannot be zero");
        }
        long Clamp(object? bound, long whenNone, long low, long high)
        {
            if (bound is null) return whenNone;
            long value = AsIndex(bound, position);
            if (value < 0) value += count;
            return Math.Clamp(value, low, high);
        }
        if (stride > 0)
        {
            long from = Clamp(start, 0, 0, count), to = Clamp(stop, count, 0, count);
            for (long i = from; i < to; i += stride) yield return (int)i;
        }
        else
        {
            long from = Clamp(start, count - 1, -1, count - 1), to = Clamp(stop, -1, -1, count - 1);
            for (long i = from; i > to; i += stride) yield return (int)i;
        }
    }

    private static long AsIndex(object? value, SourcePosition position) =>
        value is long or bool ? TemplateValues.ToLong(value) : throw position.Error("slice indices must be integers or none");
}
