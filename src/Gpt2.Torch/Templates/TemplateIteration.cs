namespace Gpt2.Torch.Templates;

/// <summary>What <c>for</c>, <c>in</c> and the list filters iterate: list items, a string's characters, a dict's keys.</summary>
internal static class TemplateIteration
{
    public static IEnumerable<object?> Items(object? value, SourcePosition position) => value switch
    {
        List<object?> list => list,
        OrderedDictionary<string, object?> dict => dict.Keys,
        string text => Characters(text),
        Undefined => [],
        _ => throw position.Error($"'{TemplateValues.TypeName(value)}' object is not iterable"),
    };

    /// <summary>A string's characters as Python counts them: code points, so a surrogate pair is one.</summary>
    public static IEnumerable<object?> Characters(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                yield return text.Substring(i++, 2);
            }
            else
            {
                yield return text[i].ToString();
            }
        }
    }

    public static long Length(object? value, SourcePosition position) => value switch
    {
        string text => Characters(text).LongCount(),
        List<object?> list => list.Count,
        OrderedDictionary<string, object?> dict => dict.Count,
        TemplateNamespace ns => ns.Attributes.Count,
        Undefined => 0,
        _ => throw position.Error($"object of type '{TemplateValues.TypeName(value)}' has no len()"),
    };
}
