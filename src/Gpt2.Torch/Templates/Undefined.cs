namespace Gpt2.Torch.Templates;

/// <summary>
/// Jinja's default Undefined, as transformers renders with it: prints as nothing, is false, iterates as empty and has
/// length 0, but attribute access, arithmetic and calls on it fail, naming what was undefined.
/// </summary>
internal sealed class Undefined(string description)
{
    /// <summary>What was looked up: "'tools' is undefined", "'dict object' has no attribute 'x'".</summary>
    public string Description { get; } = description;

    public static Undefined Named(string name) => new($"'{name}' is undefined");
}
