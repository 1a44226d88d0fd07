using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// Reads answers in <see cref="HermesToolCallFormat"/> as vLLM's <c>hermes</c> tool parser reads them: each
/// <c>&lt;tool_call&gt;</c> JSON <c>&lt;/tool_call&gt;</c> becomes a call, and the text outside the tags stays text.
/// </summary>
/// <remarks>
/// A call is complete when its closing tag arrives, or at the end of the answer (a call cut short by the token limit is
/// still read when its JSON is whole, as vLLM reads it). A call whose JSON does not parse, or is not an object with a
/// string <c>name</c> and an object <c>arguments</c> (or none), stays text, tags included, so nothing the model wrote is
/// lost. Text that may be the start of a tag, and white space alone, are held back until the next text decides what they
/// are; white space alone between or around calls is dropped, and an answer without calls comes back exactly as written.
/// </remarks>
internal sealed class HermesToolCallParser(bool allowMultipleToolCalls) : ToolCallParser
{
    private readonly StringBuilder _pending = new();
    private bool _insideCall;
    private int _callCount;
    private bool _runHasText;   // whether text was given out since the last tag: its white space is then part of a text

    public override bool HasToolCalls => _callCount > 0;

    public override IReadOnlyList<AIContent> Append(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _pending.Append(text);
        var contents = new List<AIContent>();
        while (true)
        {
            string pending = _pending.ToString();
            if (_insideCall)
            {
                int end = pending.IndexOf(HermesToolCallFormat.End, StringComparison.Ordinal);
                if (end < 0)
                    return contents;
                AddCall(contents, pending[..end]);
                _insideCall = false;
                _runHasText = false;
                _pending.Remove(0, end + HermesToolCallFormat.End.Length);
                continue;
            }
            int start = pending.IndexOf(HermesToolCallFormat.Start, StringComparison.Ordinal);
            if (start >= 0)
            {
                AddText(contents, pending[..start], dropWhiteSpace: true);
                _insideCall = true;
                _runHasText = false;
                _pending.Remove(0, start + HermesToolCallFormat.Start.Length);
                continue;
            }
            int held = PossibleTagStart(pending);
            string sure = pending[..^held];
            if (!string.IsNullOrWhiteSpace(sure))
            {
                AddText(contents, sure, dropWhiteSpace: false);
                _pending.Remove(0, sure.Length);
            }
            return contents;
        }
    }

    public override IReadOnlyList<AIContent> Complete()
    {
        var contents = new List<AIContent>();
        string pending = _pending.ToString();
        _pending.Clear();
        if (_insideCall)
        {
            _insideCall = false;
            AddCall(contents, pending);
        }
        else
            AddText(contents, pending, dropWhiteSpace: _callCount > 0);
        return contents;
    }

    private void AddText(List<AIContent> contents, string text, bool dropWhiteSpace)
    {
        if (text.Length == 0 || (dropWhiteSpace && !_runHasText && string.IsNullOrWhiteSpace(text)))
            return;
        if (!allowMultipleToolCalls && _callCount > 0)
            return;
        contents.Add(new TextContent(text));
        _runHasText = true;
    }

    private void AddCall(List<AIContent> contents, string body)
    {
        if (!allowMultipleToolCalls && _callCount > 0)
            return;
        if (Parse(body) is FunctionCallContent call)
        {
            _callCount++;
            contents.Add(call);
        }
        else
            contents.Add(new TextContent(HermesToolCallFormat.Start + body + (_insideCall ? HermesToolCallFormat.End : "")));
    }

    private static FunctionCallContent? Parse(string body)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            return Call(document.RootElement, body, "arguments");
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // How many characters at the end of the text could begin a '<tool_call>' tag still to come.
    private static int PossibleTagStart(string text)
    {
        for (int length = Math.Min(HermesToolCallFormat.Start.Length - 1, text.Length); length > 0; length--)
        {
            if (HermesToolCallFormat.Start.AsSpan(0, length).SequenceEqual(text.AsSpan(text.Length - length)))
                return length;
        }
        return 0;
    }
}
