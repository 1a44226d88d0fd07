namespace Gpt2.Torch.Templates;

/// <summary>Something a template can call: a global function, a macro, a bound string/dict/list method, <c>caller</c>.</summary>
internal abstract class TemplateCallable
{
    public abstract string Name { get; }

    public abstract object? Invoke(TemplateEvaluator evaluator, IReadOnlyList<object?> arguments,
        IReadOnlyDictionary<string, object?> keywordArguments, SourcePosition position);
}

/// <summary>A callable implemented in C#.</summary>
internal sealed class NativeCallable(string name,
    Func<IReadOnlyList<object?>, IReadOnlyDictionary<string, object?>, SourcePosition, object?> body) : TemplateCallable
{
    public override string Name => name;

    public override object? Invoke(TemplateEvaluator evaluator, IReadOnlyList<object?> arguments,
        IReadOnlyDictionary<string, object?> keywordArguments, SourcePosition position) =>
        body(arguments, keywordArguments, position);
}
