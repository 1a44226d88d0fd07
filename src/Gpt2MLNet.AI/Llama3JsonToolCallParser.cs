using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// Reads answers in <see cref="Llama3JsonToolCallFormat"/> as vLLM's <c>llama3_json</c> tool parser reads them: an answer
/// that begins with <c>{</c> or <c>&lt;|python_tag|&gt;</c> is calls, each a JSON object with a string <c>name</c> and its
/// arguments under <c>arguments</c> or <c>parameters</c>, separated by <c>;</c>; if any part of it is not a call, the
/// whole answer is text. Any other answer is text.
/// </summary>
/// <remarks>
/// Streaming, an answer that may still turn out to be calls is held back to its end (a call is one update when the answer
/// is complete, its JSON never streamed as text); one that cannot is given out as it comes.
/// </remarks>
internal sealed class Llama3JsonToolCallParser(bool allowMultipleToolCalls) : ToolCallParser
{
    private enum Answer { Undecided, Text, Calls }

    private readonly StringBuilder _pending = new();
    private Answer _answer;
    private int _callCount;

    public override bool HasToolCalls => _callCount > 0;

    public override IReadOnlyList<AIContent> Append(string text)
    {
        if (text.Length == 0)
            return [];
        if (_answer == Answer.Text)
            return [new TextContent(text)];
        _pending.Append(text);
        if (_answer == Answer.Calls)
            return [];
        string pending = _pending.ToString();
        if (pending.StartsWith('{') || pending.StartsWith(Llama3JsonToolCallFormat.PythonTag, StringComparison.Ordinal))
        {
            _answer = Answer.Calls;
            return [];
        }
        if (Llama3JsonToolCallFormat.PythonTag.StartsWith(pending, StringComparison.Ordinal))
            return [];
        _answer = Answer.Text;
        _pending.Clear();
        return [new TextContent(pending)];
    }

    public override IReadOnlyList<AIContent> Complete()
    {
        string pending = _pending.ToString();
        _pending.Clear();
        if (pending.Length == 0)
            return [];
        if (_answer == Answer.Calls && Calls(pending) is { } calls)
        {
            _callCount = calls.Count;
            return calls;
        }
        return [new TextContent(pending)];
    }

    // The calls the whole answer holds, or null when any part of it is not a call.
    private List<AIContent>? Calls(string answer)
    {
        string body = answer.StartsWith(Llama3JsonToolCallFormat.PythonTag, StringComparison.Ordinal) ? answer[Llama3JsonToolCallFormat.PythonTag.Length..] : answer;
        byte[] utf8 = Encoding.UTF8.GetBytes(body);
        var calls = new List<AIContent>();
        int position = 0;
        while (true)
        {
            FunctionCallContent? call;
            try
            {
                var reader = new Utf8JsonReader(utf8.AsSpan(position), new JsonReaderOptions { AllowMultipleValues = true });
                using JsonDocument document = JsonDocument.ParseValue(ref reader);
                string raw = Encoding.UTF8.GetString(utf8, position, (int)reader.BytesConsumed).Trim();
                call = Call(document.RootElement, raw, "arguments", "parameters");
                position += (int)reader.BytesConsumed;
            }
            catch (JsonException)
            {
                return null;
            }
            if (call is null)
                return null;
            if (allowMultipleToolCalls || calls.Count == 0)
                calls.Add(call);
            position = SkipWhiteSpace(utf8, position);
            if (position == utf8.Length)
                return calls;
            if (utf8[position] != (byte)';')
                return null;
            position = SkipWhiteSpace(utf8, position + 1);
            if (position == utf8.Length)
                return calls;
        }
    }

    private static int SkipWhiteSpace(byte[] utf8, int position)
    {
        while (position < utf8.Length && utf8[position] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
            position++;
        return position;
    }
}
