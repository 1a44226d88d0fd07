namespace Gpt2.Torch.Templates;

/// <summary>
/// A chat template that cannot be parsed or rendered: a construct this interpreter does not implement, a syntax error,
/// an error while evaluating (an undefined value used in arithmetic, an unknown filter), or the template's own
/// <c>raise_exception(message)</c>. <see cref="Line"/> and <see cref="Column"/> locate the construct in the template.
/// </summary>
public sealed class ChatTemplateException : FormatException
{
    /// <summary>Creates the exception for a construct at a 1-based line and column of the template.</summary>
    public ChatTemplateException(string message, int line, int column, bool raisedByTemplate = false)
        : base(raisedByTemplate ? message : $"{message} (chat template line {line}, column {column})")
    {
        Line = line;
        Column = column;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>The 1-based line of the construct in the template.</summary>
    public int Line { get; }

    /// <summary>The 1-based column of the construct in the template.</summary>
    public int Column { get; }

    /// <summary>
    /// True when the template itself refused the conversation with <c>raise_exception(...)</c>: <see cref="Exception.Message"/>
    /// is then the template's own message, verbatim (for example "Conversation roles must alternate user/assistant/...").
    /// </summary>
    public bool RaisedByTemplate { get; }
}
