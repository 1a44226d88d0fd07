namespace Gpt2.Torch.Templates;

/// <summary>
/// A Python tuple: <c>(a, b)</c>, <c>set a, b = ...</c>, the pairs of <c>items()</c> and <c>dictsort</c>. It behaves as a
/// list everywhere except when printed: <c>('a', 1)</c>.
/// </summary>
internal sealed class TemplateTuple : List<object?>
{
    public TemplateTuple(IEnumerable<object?> items) : base(items)
    {
    }
}
