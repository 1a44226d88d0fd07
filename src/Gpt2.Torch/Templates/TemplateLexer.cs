using System.Globalization;
using System.Text;

namespace Gpt2.Torch.Templates;

/// <summary>
/// Splits a template into text and tag tokens with the whitespace rules transformers renders with: Jinja's
/// <c>trim_blocks</c> (the newline right after a <c>%}</c> or <c>#}</c> is dropped) and <c>lstrip_blocks</c> (spaces and
/// tabs from the start of a line up to a <c>{%</c> or <c>{#</c> are dropped), <c>-</c> on a tag's side strips all whitespace
/// on that side, and one trailing newline of the template is dropped (keep_trailing_newline is off).
/// </summary>
internal sealed class TemplateLexer
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", ">=", "<=", "+", "-", "*", "/", "%", "~", "<", ">", "=", ".", ",", ":", "|", "(", ")", "[", "]", "{", "}"];

    private readonly string _source;
    private readonly Func<int, SourcePosition> _locate;
    private readonly List<TemplateToken> _tokens = [];
    private int _position;

    private TemplateLexer(string source)
    {
        // Jinja writes every line break of the template as "\n" (its newline_sequence).
        source = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        _source = source.EndsWith('\n') ? source[..^1] : source;
        _locate = SourcePosition.Locator(source);
    }

    public static List<TemplateToken> Tokenize(string source)
    {
        var lexer = new TemplateLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        while (_position < _source.Length)
        {
            int tag = FindTagStart(_position);
            int textStart = _position;
            string text = _source[textStart..(tag < 0 ? _source.Length : tag)];
            if (tag < 0)
            {
                AddText(text, textStart);
                break;
            }
            char kind = _source[tag + 1];
            char sign = tag + 2 < _source.Length ? _source[tag + 2] : '\0';
            if (sign == '-')
            {
                text = text.TrimEnd();
            }
            else if (sign != '+' && kind is '%' or '#')
            {
                text = StripLineIndent(text, textStart);
            }
            AddText(text, textStart);
            _position = tag + 2 + (sign is '-' or '+' ? 1 : 0);
            if (kind == '#')
            {
                SkipComment(tag);
            }
            else
            {
                ReadTag(tag, kind);
            }
        }
        _tokens.Add(new TemplateToken(TokenKind.End, "", _locate(_source.Length)));
    }

    private int FindTagStart(int from)
    {
        for (int i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
        {
            if (_source[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>lstrip_blocks: drops the spaces and tabs between the start of the line and the tag.</summary>
    private string StripLineIndent(string text, int textStart)
    {
        int lineStart = text.LastIndexOf('\n') + 1;
        bool startsLine = textStart == 0 || _source[textStart - 1] == '\n';
        if ((lineStart > 0 || startsLine) && text.Length > lineStart && text.AsSpan(lineStart).IsWhiteSpace())
        {
            return text[..lineStart];
        }
        return text;
    }

    private void AddText(string text, int offset)
    {
        if (text.Length > 0)
        {
            _tokens.Add(new TemplateToken(TokenKind.Text, text, _locate(offset)));
        }
    }

    private void SkipComment(int tag)
    {
        int end = _source.IndexOf("#}", _position, StringComparison.Ordinal);
        if (end < 0)
        {
            throw _locate(tag).Error("Unclosed comment: '{#' has no '#}'");
        }
        bool stripAfter = end > _position && _source[end - 1] == '-';
        _position = end + 2;
        AfterTagEnd(stripAfter, trimsNewline: true);
    }

    private void AfterTagEnd(bool stripAfter, bool trimsNewline)
    {
        if (stripAfter)
        {
            while (_position < _source.Length && char.IsWhiteSpace(_source[_position])) _position++;
        }
        else if (trimsNewline)
        {
            if (_position < _source.Length && _source[_position] == '\n') _position++;
        }
    }

    private void ReadTag(int tag, char kind)
    {
        bool isBlock = kind == '%';
        string close = isBlock ? "%}" : "}}";
        _tokens.Add(new TemplateToken(isBlock ? TokenKind.BlockBegin : TokenKind.VariableBegin, isBlock ? "{%" : "{{", _locate(tag)));
        var openBrackets = new Stack<TemplateToken>();
        int firstToken = _tokens.Count;
        while (true)
        {
            while (_position < _source.Length && char.IsWhiteSpace(_source[_position])) _position++;
            if (_position >= _source.Length)
            {
                throw openBrackets.TryPeek(out var bracket)
                    ? bracket.Position.Error($"Unclosed '{bracket.Value}' in a tag")
                    : _locate(tag).Error($"Unclosed tag: '{_source.Substring(tag, 2)}' has no '{close}'");
            }
            if (openBrackets.Count == 0)
            {
                bool strip = _source[_position] == '-' && _source.AsSpan(_position + 1).StartsWith(close);
                if (strip || _source.AsSpan(_position).StartsWith(close))
                {
                    _tokens.Add(new TemplateToken(isBlock ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, _locate(_position)));
                    _position += close.Length + (strip ? 1 : 0);
                    AfterTagEnd(strip, trimsNewline: isBlock);
                    return;
                }
            }
            var token = ReadExpressionToken();
            if (isBlock && _tokens.Count == firstToken && token.IsName("raw"))
            {
                throw token.Position.Error("'{% raw %}' is not supported by this chat template interpreter");
            }
            if (token.Kind == TokenKind.Operator)
            {
                if (token.Value is "(" or "[" or "{") openBrackets.Push(token);
                else if (token.Value is ")" or "]" or "}")
                {
                    string opening = token.Value switch { ")" => "(", "]" => "[", _ => "{" };
                    if (openBrackets.TryPeek(out var bracket) && bracket.Value != opening)
                    {
                        throw bracket.Position.Error($"Unclosed '{bracket.Value}' in a tag: found '{token.Value}'");
                    }
                    openBrackets.TryPop(out _);
                }
            }
            _tokens.Add(token);
        }
    }

    private TemplateToken ReadExpressionToken()
    {
        int start = _position;
        char c = _source[_position];
        var position = _locate(start);
        if (c is '\'' or '"')
        {
            return new TemplateToken(TokenKind.String, _source[start.._position], position, ReadString(c, position));
        }
        if (char.IsAsciiDigit(c))
        {
            return ReadNumber(position);
        }
        if (char.IsLetter(c) || c == '_')
        {
            while (_position < _source.Length && (char.IsLetterOrDigit(_source[_position]) || _source[_position] == '_')) _position++;
            return new TemplateToken(TokenKind.Name, _source[start.._position], position);
        }
        foreach (string op in Operators)
        {
            if (_source.AsSpan(_position).StartsWith(op))
            {
                _position += op.Length;
                return new TemplateToken(TokenKind.Operator, op, position);
            }
        }
        throw position.Error($"Unexpected character '{c}' in a tag");
    }

    private string ReadString(char quote, SourcePosition position)
    {
        var builder = new StringBuilder();
        _position++;
        while (true)
        {
            if (_position >= _source.Length)
            {
                throw position.Error("Unclosed string literal");
            }
            char c = _source[_position++];
            if (c == quote)
            {
                return builder.ToString();
            }
            if (c != '\\' || _position >= _source.Length)
            {
                builder.Append(c);
                continue;
            }
            char escaped = _source[_position++];
            switch (escaped)
            {
                case 'n': builder.Append('\n'); break;
                case 't': builder.Append('\t'); break;
                case 'r': builder.Append('\r'); break;
                case 'b': builder.Append('\b'); break;
                case 'f': builder.Append('\f'); break;
                case 'v': builder.Append('\v'); break;
                case '0': builder.Append('\0'); break;
                case '\\': case '\'': case '"': builder.Append(escaped); break;
                case '\n': break;
                case 'x': builder.Append(ReadHex(2, position)); break;
                case 'u': builder.Append(ReadHex(4, position)); break;
                case 'U': builder.Append(ReadHex(8, position)); break;
                // Python keeps an unknown escape as written: '\d' is a backslash and a d.
                default: builder.Append('\\').Append(escaped); break;
            }
        }
    }

    private string ReadHex(int digits, SourcePosition position)
    {
        if (_position + digits > _source.Length
            || !int.TryParse(_source.AsSpan(_position, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
        {
            throw position.Error("Bad \\x, \\u or \\U escape in a string literal");
        }
        _position += digits;
        return char.ConvertFromUtf32(code);
    }

    private TemplateToken ReadNumber(SourcePosition position)
    {
        int start = _position;
        SkipDigits();
        bool isFloat = false;
        if (_position + 1 < _source.Length && _source[_position] == '.' && char.IsAsciiDigit(_source[_position + 1]))
        {
            isFloat = true;
            _position++;
            SkipDigits();
        }
        if (_position < _source.Length && _source[_position] is 'e' or 'E')
        {
            int mark = _position++;
            if (_position < _source.Length && _source[_position] is '+' or '-') _position++;
            if (_position < _source.Length && char.IsAsciiDigit(_source[_position]))
            {
                isFloat = true;
                SkipDigits();
            }
            else
            {
                _position = mark;
            }
        }
        string text = _source[start.._position];
        string digits = text.Replace("_", "", StringComparison.Ordinal);
        object literal;
        if (isFloat)
        {
            literal = double.Parse(digits, CultureInfo.InvariantCulture);
        }
        else if (long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long integer))
        {
            literal = integer;
        }
        else
        {
            throw position.Error($"Integer literal {text} is too large");
        }
        return new TemplateToken(isFloat ? TokenKind.Float : TokenKind.Integer, text, position, literal);
    }

    private void SkipDigits()
    {
        while (_position < _source.Length && (char.IsAsciiDigit(_source[_position]) || _source[_position] == '_')) _position++;
    }
}
