namespace Gpt2.Torch.Templates;

/// <summary>An expression of the template's syntax tree; <see cref="Position"/> locates it for errors.</summary>
internal abstract record Expression(SourcePosition Position);

internal sealed record LiteralExpression(object? Value, SourcePosition Position) : Expression(Position);

internal sealed record NameExpression(string Name, SourcePosition Position) : Expression(Position);

/// <summary><c>[a, b]</c>, or a tuple <c>(a, b)</c> / <c>a, b</c> when <paramref name="IsTuple"/>.</summary>
internal sealed record ListExpression(IReadOnlyList<Expression> Items, SourcePosition Position, bool IsTuple = false) : Expression(Position);

internal sealed record DictExpression(IReadOnlyList<(Expression Key, Expression Value)> Entries, SourcePosition Position) : Expression(Position);

/// <summary><c>target.name</c>: an attribute, or the item of that name (Jinja tries both).</summary>
internal sealed record AttributeExpression(Expression Target, string Name, SourcePosition Position) : Expression(Position);

/// <summary><c>target[key]</c>.</summary>
internal sealed record ItemExpression(Expression Target, Expression Key, SourcePosition Position) : Expression(Position);

/// <summary><c>target[start:stop:step]</c>, each part optional.</summary>
internal sealed record SliceExpression(Expression Target, Expression? Start, Expression? Stop, Expression? Step, SourcePosition Position) : Expression(Position);

/// <summary>Positional and keyword arguments of a call, a filter or a test.</summary>
internal sealed record Arguments(IReadOnlyList<Expression> Positional, IReadOnlyList<(string Name, Expression Value)> Keyword)
{
    public static readonly Arguments None = new([], []);
}

internal sealed record CallExpression(Expression Callee, Arguments Arguments, SourcePosition Position) : Expression(Position);

/// <summary><c>target | name(arguments)</c>.</summary>
internal sealed record FilterExpression(Expression Target, string Name, Arguments Arguments, SourcePosition Position) : Expression(Position);

/// <summary><c>target is [not] name(arguments)</c>.</summary>
internal sealed record TestExpression(Expression Target, string Name, Arguments Arguments, bool Negated, SourcePosition Position) : Expression(Position);

/// <summary><c>not</c>, unary <c>-</c> and <c>+</c>.</summary>
internal sealed record UnaryExpression(string Operator, Expression Operand, SourcePosition Position) : Expression(Position);

/// <summary>Arithmetic, <c>~</c>, <c>and</c>, <c>or</c>.</summary>
internal sealed record BinaryExpression(string Operator, Expression Left, Expression Right, SourcePosition Position) : Expression(Position);

/// <summary>A chain of comparisons (<c>a &lt; b &lt;= c</c>), including <c>in</c> and <c>not in</c>.</summary>
internal sealed record CompareExpression(Expression First, IReadOnlyList<(string Operator, Expression Operand)> Rest, SourcePosition Position) : Expression(Position);

/// <summary><c>then if condition else otherwise</c>; without <c>else</c> the result is undefined when the condition is false.</summary>
internal sealed record ConditionalExpression(Expression Condition, Expression Then, Expression? Otherwise, SourcePosition Position) : Expression(Position);
