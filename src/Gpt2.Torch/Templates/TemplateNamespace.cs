namespace Gpt2.Torch.Templates;

/// <summary>The object <c>namespace(...)</c> makes: the one value a template may change from inside a loop (<c>set ns.x = ...</c>).</summary>
internal sealed class TemplateNamespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}
