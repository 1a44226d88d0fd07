namespace Gpt2.Torch.Templates;

/// <summary>
/// Variables visible at one point of the template. As in Jinja, a loop iteration and a macro call open a child scope
/// (what they set does not leak out: templates use <c>namespace()</c> for that); <c>if</c> does not.
/// </summary>
internal sealed class TemplateScope(TemplateScope? parent)
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    public TemplateScope? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
        {
            if (scope._variables.TryGetValue(name, out value))
            {
                return true;
            }
        }
        value = null;
        return false;
    }

    public void Set(string name, object? value) => _variables[name] = value;
}
