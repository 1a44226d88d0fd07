namespace Gpt2.Torch.Templates;

/// <summary>A 1-based line and column in the template's source, carried by every token and syntax node for errors.</summary>
internal readonly record struct SourcePosition(int Line, int Column)
{
    public ChatTemplateException Error(string message) => new(message, Line, Column);

    /// <summary>Positions of offsets in <paramref name="source"/>.</summary>
    public static Func<int, SourcePosition> Locator(string source)
    {
        var lineStarts = new List<int> { 0 };
        for (int i = 0; i < source.Length; i++)
        {
            if (source[i] == '\n')
            {
                lineStarts.Add(i + 1);
            }
        }
        return offset =>
        {
            int index = lineStarts.BinarySearch(offset);
            int line = index >= 0 ? index : ~index - 1;
            return new SourcePosition(line + 1, offset - lineStarts[line] + 1);
        };
    }
}
