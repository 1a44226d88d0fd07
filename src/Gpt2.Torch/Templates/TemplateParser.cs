namespace Gpt2.Torch.Templates;

/// <summary>
/// Builds the syntax tree from the tokens, with Jinja's grammar and precedence (lowest first): <c>x if c else y</c>,
/// <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>, <c>* / // %</c>, <c>**</c>,
/// unary <c>- +</c>, then primaries with <c>.attr</c>, <c>[key]</c>, <c>[a:b:c]</c>, calls, <c>| filters</c> and
/// <c>is tests</c>. Tags this interpreter does not implement are refused here, by name and position.
/// </summary>
internal sealed class TemplateParser
{
    private static readonly HashSet<string> UnsupportedTags = new(StringComparer.Ordinal)
    {
        "include", "extends", "import", "from", "block", "with", "autoescape", "filter", "trans", "do", "raw",
    };

    private static readonly HashSet<string> CompareOperators = new(StringComparer.Ordinal) { "==", "!=", "<", ">", "<=", ">=" };

    private readonly List<TemplateToken> _tokens;
    private int _index;
    private int _loopDepth;

    private TemplateParser(List<TemplateToken> tokens) => _tokens = tokens;

    public static IReadOnlyList<Statement> Parse(string source)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source));
        var body = parser.ParseBody(out var end, []);
        if (end is not null)
        {
            throw end.Position.Error($"Unexpected '{{% {end.Value} %}}' with no block open");
        }
        return body;
    }

    private TemplateToken Current => _tokens[_index];

    private TemplateToken Peek(int ahead = 1) => _tokens[Math.Min(_index + ahead, _tokens.Count - 1)];

    private TemplateToken Advance() => _tokens[_index++];

    private TemplateToken Expect(TokenKind kind, string? value = null)
    {
        var token = Current;
        if (token.Kind != kind || (value is not null && token.Value != value))
        {
            string wanted = value is not null ? $"'{value}'" : kind switch
            {
                TokenKind.Name => "a name",
                TokenKind.BlockEnd => "'%}'",
                TokenKind.VariableEnd => "'}}'",
                _ => kind.ToString(),
            };
            throw token.Position.Error($"Expected {wanted} but found {token.Describe()}");
        }
        return Advance();
    }

    private bool Accept(TokenKind kind, string value)
    {
        if (Current.Is(kind, value))
        {
            _index++;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Parses statements until one of <paramref name="endTags"/> opens a block tag (<paramref name="end"/> is then its
    /// name token, with the parser on the token after it) or the template ends (<paramref name="end"/> is null).
    /// </summary>
    private List<Statement> ParseBody(out TemplateToken? end, string[] endTags)
    {
        var body = new List<Statement>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.End:
                    end = null;
                    if (endTags.Length > 0)
                    {
                        throw token.Position.Error($"Unexpected end of template: expected '{{% {endTags[^1]} %}}'");
                    }
                    return body;
                case TokenKind.Text:
                    body.Add(new TextStatement(token.Value, token.Position));
                    _index++;
                    break;
                case TokenKind.VariableBegin:
                    _index++;
                    var value = ParseExpression();
                    Expect(TokenKind.VariableEnd);
                    body.Add(new OutputStatement(value, token.Position));
                    break;
                case TokenKind.BlockBegin:
                    var name = Peek();
                    if (name.Kind == TokenKind.Name && endTags.Contains(name.Value))
                    {
                        _index += 2;
                        end = name;
                        return body;
                    }
                    _index++;
                    ParseStatement(body);
                    break;
                default:
                    throw token.Position.Error($"Unexpected {token.Describe()}");
            }
        }
    }

    private void ParseStatement(List<Statement> body)
    {
        var keyword = Expect(TokenKind.Name);
        switch (keyword.Value)
        {
            case "if": body.Add(ParseIf(keyword)); break;
            case "for": body.Add(ParseFor(keyword)); break;
            case "set": body.Add(ParseSet(keyword)); break;
            case "macro": body.Add(ParseMacro(keyword)); break;
            case "call": body.Add(ParseCallBlock(keyword)); break;
            case "break" or "continue" when _loopDepth == 0:
                throw keyword.Position.Error($"'{{% {keyword.Value} %}}' outside a for loop");
            case "break":
                Expect(TokenKind.BlockEnd);
                body.Add(new BreakStatement(keyword.Position));
                break;
            case "continue":
                Expect(TokenKind.BlockEnd);
                body.Add(new ContinueStatement(keyword.Position));
                break;
            case "generation":
                // transformers' AssistantTracker tag: it only marks the assistant's tokens; the text renders as is.
                Expect(TokenKind.BlockEnd);
                body.AddRange(ParseBody(out _, ["endgeneration"]));
                Expect(TokenKind.BlockEnd);
                break;
            case "elif" or "else" or "endif" or "endfor" or "endset" or "endmacro" or "endcall" or "endgeneration":
                throw keyword.Position.Error($"Unexpected '{{% {keyword.Value} %}}' with no block open");
            default:
                throw keyword.Position.Error(UnsupportedTags.Contains(keyword.Value)
                    ? $"'{{% {keyword.Value} %}}' is not supported by this chat template interpreter"
                    : $"Unknown tag '{{% {keyword.Value} %}}'");
        }
    }

    private IfStatement ParseIf(TemplateToken keyword)
    {
        var branches = new List<(Expression, IReadOnlyList<Statement>)>();
        var condition = ParseExpression();
        Expect(TokenKind.BlockEnd);
        while (true)
        {
            var body = ParseBody(out var end, ["elif", "else", "endif"]);
            branches.Add((condition, body));
            switch (end!.Value)
            {
                case "elif":
                    condition = ParseExpression();
                    Expect(TokenKind.BlockEnd);
                    continue;
                case "else":
                    Expect(TokenKind.BlockEnd);
                    var otherwise = ParseBody(out _, ["endif"]);
                    Expect(TokenKind.BlockEnd);
                    return new IfStatement(branches, otherwise, keyword.Position);
                default:
                    Expect(TokenKind.BlockEnd);
                    return new IfStatement(branches, [], keyword.Position);
            }
        }
    }

    private ForStatement ParseFor(TemplateToken keyword)
    {
        var targets = ParseTargetNames();
        Expect(TokenKind.Name, "in");
        // The iterable stops before 'if' (the loop filter), so no conditional expression here.
        var iterable = ParseOr();
        Expression? filter = null;
        if (Accept(TokenKind.Name, "if"))
        {
            filter = ParseExpression();
        }
        if (Current.IsName("recursive"))
        {
            throw Current.Position.Error("'for ... recursive' is not supported by this chat template interpreter");
        }
        Expect(TokenKind.BlockEnd);
        _loopDepth++;
        var body = ParseBody(out var end, ["else", "endfor"]);
        _loopDepth--;
        List<Statement> otherwise = [];
        if (end!.Value == "else")
        {
            Expect(TokenKind.BlockEnd);
            otherwise = ParseBody(out _, ["endfor"]);
        }
        Expect(TokenKind.BlockEnd);
        return new ForStatement(targets, iterable, filter, body, otherwise, keyword.Position);
    }

    private List<string> ParseTargetNames()
    {
        bool parenthesized = Accept(TokenKind.Operator, "(");
        var names = new List<string> { Expect(TokenKind.Name).Value };
        while (Accept(TokenKind.Operator, ","))
        {
            if (Current.Kind != TokenKind.Name) break;
            names.Add(Expect(TokenKind.Name).Value);
        }
        if (parenthesized) Expect(TokenKind.Operator, ")");
        return names;
    }

    private Statement ParseSet(TemplateToken keyword)
    {
        var first = Expect(TokenKind.Name);
        if (Accept(TokenKind.Operator, "."))
        {
            var attribute = Expect(TokenKind.Name);
            Expect(TokenKind.Operator, "=");
            var value = ParseExpression();
            Expect(TokenKind.BlockEnd);
            return new SetStatement([attribute.Value], first.Value, value, keyword.Position);
        }
        var targets = new List<string> { first.Value };
        while (Accept(TokenKind.Operator, ","))
        {
            targets.Add(Expect(TokenKind.Name).Value);
        }
        if (targets.Count == 1 && Accept(TokenKind.BlockEnd, "%}"))
        {
            var body = ParseBody(out _, ["endset"]);
            Expect(TokenKind.BlockEnd);
            return new SetBlockStatement(first.Value, body, keyword.Position);
        }
        Expect(TokenKind.Operator, "=");
        var assigned = ParseTupleOrExpression();
        Expect(TokenKind.BlockEnd);
        return new SetStatement(targets, null, assigned, keyword.Position);
    }

    private MacroStatement ParseMacro(TemplateToken keyword)
    {
        var name = Expect(TokenKind.Name);
        Expect(TokenKind.Operator, "(");
        var parameters = new List<(string, Expression?)>();
        while (!Accept(TokenKind.Operator, ")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",");
            if (Accept(TokenKind.Operator, ")")) break;
            var parameter = Expect(TokenKind.Name).Value;
            parameters.Add((parameter, Accept(TokenKind.Operator, "=") ? ParseExpression() : null));
        }
        Expect(TokenKind.BlockEnd);
        int loopDepth = _loopDepth;
        _loopDepth = 0;
        var body = ParseBody(out _, ["endmacro"]);
        _loopDepth = loopDepth;
        Expect(TokenKind.BlockEnd);
        return new MacroStatement(name.Value, parameters, body, keyword.Position);
    }

    private CallBlockStatement ParseCallBlock(TemplateToken keyword)
    {
        if (Current.IsOperator("("))
        {
            throw Current.Position.Error("'{% call(args) %}' (a caller with parameters) is not supported by this chat template interpreter");
        }
        var call = ParseExpression() as CallExpression
            ?? throw keyword.Position.Error("'{% call %}' must call a macro: {% call name(...) %}");
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(out _, ["endcall"]);
        Expect(TokenKind.BlockEnd);
        return new CallBlockStatement(call, body, keyword.Position);
    }

    /// <summary><c>a, b</c> without brackets is a tuple (a list here), as in <c>set x = 1, 2</c>.</summary>
    private Expression ParseTupleOrExpression()
    {
        var start = Current.Position;
        var first = ParseExpression();
        if (!Current.IsOperator(","))
        {
            return first;
        }
        var items = new List<Expression> { first };
        while (Accept(TokenKind.Operator, ","))
        {
            if (Current.Kind is TokenKind.BlockEnd or TokenKind.VariableEnd) break;
            items.Add(ParseExpression());
        }
        return new ListExpression(items, start, IsTuple: true);
    }

    public Expression ParseExpression()
    {
        var then = ParseOr();
        if (Current.IsName("if"))
        {
            var position = Advance().Position;
            var condition = ParseOr();
            Expression? otherwise = Accept(TokenKind.Name, "else") ? ParseExpression() : null;
            return new ConditionalExpression(condition, then, otherwise, position);
        }
        return then;
    }

    private Expression ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var position = Advance().Position;
            left = new BinaryExpression("or", left, ParseAnd(), position);
        }
        return left;
    }

    private Expression ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var position = Advance().Position;
            left = new BinaryExpression("and", left, ParseNot(), position);
        }
        return left;
    }

    private Expression ParseNot()
    {
        if (Current.IsName("not"))
        {
            var position = Advance().Position;
            return new UnaryExpression("not", ParseNot(), position);
        }
        return ParseCompare();
    }

    private Expression ParseCompare()
    {
        var start = Current.Position;
        var first = ParseAdditive();
        var rest = new List<(string, Expression)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && CompareOperators.Contains(Current.Value))
            {
                string op = Advance().Value;
                rest.Add((op, ParseAdditive()));
            }
            else if (Current.IsName("in"))
            {
                _index++;
                rest.Add(("in", ParseAdditive()));
            }
            else if (Current.IsName("not") && Peek().IsName("in"))
            {
                _index += 2;
                rest.Add(("not in", ParseAdditive()));
            }
            else
            {
                break;
            }
        }
        return rest.Count == 0 ? first : new CompareExpression(first, rest, start);
    }

    private Expression ParseAdditive()
    {
        var left = ParseConcat();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var op = Advance();
            left = new BinaryExpression(op.Value, left, ParseConcat(), op.Position);
        }
        return left;
    }

    private Expression ParseConcat()
    {
        var left = ParseMultiplicative();
        while (Current.IsOperator("~"))
        {
            var op = Advance();
            left = new BinaryExpression("~", left, ParseMultiplicative(), op.Position);
        }
        return left;
    }

    private Expression ParseMultiplicative()
    {
        var left = ParsePower();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var op = Advance();
            left = new BinaryExpression(op.Value, left, ParsePower(), op.Position);
        }
        return left;
    }

    private Expression ParsePower()
    {
        var left = ParseUnary(withFilters: true);
        while (Current.IsOperator("**"))
        {
            var op = Advance();
            left = new BinaryExpression("**", left, ParseUnary(withFilters: true), op.Position);
        }
        return left;
    }

    private Expression ParseUnary(bool withFilters)
    {
        Expression node;
        if (Current.IsOperator("-") || Current.IsOperator("+"))
        {
            var op = Advance();
            node = new UnaryExpression(op.Value, ParseUnary(withFilters: false), op.Position);
        }
        else
        {
            node = ParsePostfix(ParsePrimary());
        }
        return withFilters ? ParseFiltersAndTests(node) : node;
    }

    private Expression ParsePrimary()
    {
        var token = Advance();
        switch (token.Kind)
        {
            case TokenKind.String:
                // Adjacent string literals concatenate, as in Python.
                string text = (string)token.Literal!;
                while (Current.Kind == TokenKind.String) text += (string)Advance().Literal!;
                return new LiteralExpression(text, token.Position);
            case TokenKind.Integer:
            case TokenKind.Float:
                return new LiteralExpression(token.Literal, token.Position);
            case TokenKind.Name:
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpression(true, token.Position),
                    "false" or "False" => new LiteralExpression(false, token.Position),
                    "none" or "None" => new LiteralExpression(null, token.Position),
                    _ => new NameExpression(token.Value, token.Position),
                };
            case TokenKind.Operator when token.Value == "(":
                if (Accept(TokenKind.Operator, ")")) return new ListExpression([], token.Position, IsTuple: true);
                var inner = ParseExpression();
                if (Current.IsOperator(","))
                {
                    var items = new List<Expression> { inner };
                    while (Accept(TokenKind.Operator, ",") && !Current.IsOperator(")")) items.Add(ParseExpression());
                    inner = new ListExpression(items, token.Position, IsTuple: true);
                }
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when token.Value == "[":
                var list = new List<Expression>();
                while (!Accept(TokenKind.Operator, "]"))
                {
                    if (list.Count > 0) Expect(TokenKind.Operator, ",");
                    if (Accept(TokenKind.Operator, "]")) break;
                    list.Add(ParseExpression());
                }
                return new ListExpression(list, token.Position);
            case TokenKind.Operator when token.Value == "{":
                var entries = new List<(Expression, Expression)>();
                while (!Accept(TokenKind.Operator, "}"))
                {
                    if (entries.Count > 0) Expect(TokenKind.Operator, ",");
                    if (Accept(TokenKind.Operator, "}")) break;
                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    entries.Add((key, ParseExpression()));
                }
                return new DictExpression(entries, token.Position);
            default:
                throw token.Position.Error($"Unexpected {token.Describe()} in an expression");
        }
    }

    private Expression ParsePostfix(Expression node)
    {
        while (true)
        {
            if (Current.IsOperator("."))
            {
                var dot = Advance();
                var attribute = Current;
                if (attribute.Kind is TokenKind.Name or TokenKind.Integer)
                {
                    _index++;
                    node = attribute.Kind == TokenKind.Integer
                        ? new ItemExpression(node, new LiteralExpression(attribute.Literal, attribute.Position), dot.Position)
                        : new AttributeExpression(node, attribute.Value, dot.Position);
                }
                else
                {
                    throw attribute.Position.Error($"Expected an attribute name after '.' but found {attribute.Describe()}");
                }
            }
            else if (Current.IsOperator("["))
            {
                node = ParseSubscript(node);
            }
            else if (Current.IsOperator("("))
            {
                var open = Current.Position;
                node = new CallExpression(node, ParseCallArguments(), open);
            }
            else
            {
                return node;
            }
        }
    }

    private Expression ParseSubscript(Expression target)
    {
        var open = Expect(TokenKind.Operator, "[");
        Expression? start = null, stop = null, step = null;
        bool isSlice = false;
        if (!Current.IsOperator(":")) start = ParseExpression();
        if (Accept(TokenKind.Operator, ":"))
        {
            isSlice = true;
            if (!Current.IsOperator(":") && !Current.IsOperator("]")) stop = ParseExpression();
            if (Accept(TokenKind.Operator, ":") && !Current.IsOperator("]")) step = ParseExpression();
        }
        Expect(TokenKind.Operator, "]");
        return isSlice
            ? new SliceExpression(target, start, stop, step, open.Position)
            : new ItemExpression(target, start!, open.Position);
    }

    private Arguments ParseCallArguments()
    {
        Expect(TokenKind.Operator, "(");
        var positional = new List<Expression>();
        var keyword = new List<(string, Expression)>();
        while (!Accept(TokenKind.Operator, ")"))
        {
            if (positional.Count + keyword.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
                if (Accept(TokenKind.Operator, ")")) break;
            }
            if (Current.IsOperator("*") || Current.IsOperator("**"))
            {
                throw Current.Position.Error("'*args' and '**kwargs' in calls are not supported by this chat template interpreter");
            }
            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                string name = Advance().Value;
                _index++;
                keyword.Add((name, ParseExpression()));
            }
            else
            {
                if (keyword.Count > 0) throw Current.Position.Error("A positional argument follows a keyword argument");
                positional.Add(ParseExpression());
            }
        }
        return new Arguments(positional, keyword);
    }

    private Expression ParseFiltersAndTests(Expression node)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                _index++;
                var name = Expect(TokenKind.Name);
                if (!TemplateFilters.Exists(name.Value))
                {
                    throw name.Position.Error($"Unknown filter '{name.Value}': this chat template interpreter does not implement it");
                }
                var arguments = Current.IsOperator("(") ? ParseCallArguments() : Arguments.None;
                node = new FilterExpression(node, name.Value, arguments, name.Position);
            }
            else if (Current.IsName("is"))
            {
                var position = Advance().Position;
                bool negated = Accept(TokenKind.Name, "not");
                var name = Expect(TokenKind.Name);
                if (!TemplateTests.Exists(name.Value))
                {
                    throw name.Position.Error($"Unknown test 'is {name.Value}': this chat template interpreter does not implement it");
                }
                Arguments arguments = Arguments.None;
                if (Current.IsOperator("("))
                {
                    arguments = ParseCallArguments();
                }
                else if (Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                         || (Current.Kind == TokenKind.Operator && Current.Value is "[" or "{"))
                {
                    // One argument without parentheses: 'x is divisibleby 3', 'x is sameas false'.
                    if (!(Current.Kind == TokenKind.Name && Current.Value is "else" or "or" or "and" or "if" or "is" or "in" or "not"))
                    {
                        arguments = new Arguments([ParsePostfix(ParsePrimary())], []);
                    }
                }
                node = new TestExpression(node, name.Value, arguments, negated, position);
            }
            else
            {
                return node;
            }
        }
    }
}
