namespace Gpt2.Torch.Templates;

internal enum TokenKind
{
    Text,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

/// <summary>
/// A token of the template: raw text between tags, a tag delimiter, or a piece of an expression; <c>Literal</c> holds
/// the parsed value of a String, Integer or Float token.
/// </summary>
internal sealed record TemplateToken(TokenKind Kind, string Value, SourcePosition Position, object? Literal = null)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;

    public bool IsName(string name) => Is(TokenKind.Name, name);

    public bool IsOperator(string op) => Is(TokenKind.Operator, op);

    public string Describe() => Kind switch
    {
        TokenKind.End => "the end of the template",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.Text => "text",
        TokenKind.String => $"string '{Value}'",
        _ => $"'{Value}'",
    };
}
