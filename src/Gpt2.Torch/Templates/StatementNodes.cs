namespace Gpt2.Torch.Templates;

/// <summary>A node of the template's body: text, an output, or a block statement.</summary>
internal abstract record Statement(SourcePosition Position);

internal sealed record TextStatement(string Text, SourcePosition Position) : Statement(Position);

/// <summary><c>{{ expression }}</c>.</summary>
internal sealed record OutputStatement(Expression Value, SourcePosition Position) : Statement(Position);

/// <summary><c>if</c> / <c>elif</c> branches in order, then <c>else</c>.</summary>
internal sealed record IfStatement(IReadOnlyList<(Expression Condition, IReadOnlyList<Statement> Body)> Branches,
    IReadOnlyList<Statement> Otherwise, SourcePosition Position) : Statement(Position);

/// <summary><c>for targets in iterable [if filter]</c> ... <c>else</c> (taken when nothing was iterated).</summary>
internal sealed record ForStatement(IReadOnlyList<string> Targets, Expression Iterable, Expression? Filter,
    IReadOnlyList<Statement> Body, IReadOnlyList<Statement> Otherwise, SourcePosition Position) : Statement(Position);

/// <summary><c>set name = value</c>, <c>set a, b = value</c>, or <c>set ns.attribute = value</c> (Namespace is then set).</summary>
internal sealed record SetStatement(IReadOnlyList<string> Targets, string? Namespace, Expression Value, SourcePosition Position) : Statement(Position);

/// <summary><c>{% set name %}body{% endset %}</c>: the rendered body becomes the value.</summary>
internal sealed record SetBlockStatement(string Target, IReadOnlyList<Statement> Body, SourcePosition Position) : Statement(Position);

internal sealed record MacroStatement(string Name, IReadOnlyList<(string Name, Expression? Default)> Parameters,
    IReadOnlyList<Statement> Body, SourcePosition Position) : Statement(Position);

/// <summary><c>{% call macro(...) %}body{% endcall %}</c>: the macro may call <c>caller()</c> to render the body.</summary>
internal sealed record CallBlockStatement(CallExpression Call, IReadOnlyList<Statement> Body, SourcePosition Position) : Statement(Position);

internal sealed record BreakStatement(SourcePosition Position) : Statement(Position);

internal sealed record ContinueStatement(SourcePosition Position) : Statement(Position);
