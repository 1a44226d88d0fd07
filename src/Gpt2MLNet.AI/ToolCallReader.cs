using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// Reads an answer written after tools were offered (<see cref="ChatPromptFormat.RendersTools"/>), whole or as it streams,
/// as vLLM's <c>hermes</c> tool parser reads Qwen2.5's and Qwen3's: each
/// <c>&lt;tool_call&gt;\n{"name": ..., "arguments": {...}}\n&lt;/tool_call&gt;</c> becomes a
/// <see cref="FunctionCallContent"/> (a new <c>CallId</c>, the arguments as a dictionary of
/// <see cref="JsonElement"/> values), and the text outside the tags stays <see cref="TextContent"/>.
/// </summary>
/// <remarks>
/// <para>A call is complete when its closing tag arrives, or at the end of the answer (a call cut short by the token limit
/// is still read when its JSON is whole, as vLLM reads it). A call whose JSON does not parse, or is not an object with a
/// string <c>name</c> and an object <c>arguments</c> (or none), stays text, tags included, so nothing the model wrote is
/// lost. Text that may be the start of a tag, and white space alone, are held back until the next text decides what they
/// are; white space alone between or around calls is dropped, and an answer without calls comes back exactly as written.</para>
/// <para>Used by <see cref="Gpt2ChatClient"/> and by the sample server alike, so that both read the same calls.</para>
/// </remarks>
/// <param name="allowMultipleToolCalls">
/// False keeps only the first call (<see cref="ChatOptions.AllowMultipleToolCalls"/>, OpenAI's <c>parallel_tool_calls</c>):
/// later calls are dropped, as vLLM drops them.
/// </param>
public sealed class ToolCallReader(bool allowMultipleToolCalls = true)
{
    private readonly StringBuilder _pending = new();
    private bool _insideCall;
    private int _callCount;
    private bool _runHasText;   // whether text was given out since the last tag: its white space is then part of a text

    /// <summary>Whether a call has been read.</summary>
    public bool HasToolCalls => _callCount > 0;

    /// <summary>Reads a whole answer.</summary>
    /// <param name="text">The answer.</param>
    /// <param name="allowMultipleToolCalls">False keeps only the first call.</param>
    public static IList<AIContent> ReadAll(string text, bool allowMultipleToolCalls = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var reader = new ToolCallReader(allowMultipleToolCalls);
        List<AIContent> contents = [.. reader.Append(text), .. reader.Complete()];
        // Text pieces that follow each other are one text (the reader may hold part of it back).
        for (int i = contents.Count - 1; i > 0; i--)
        {
            if (contents[i] is TextContent next && contents[i - 1] is TextContent previous)
            {
                contents[i - 1] = new TextContent(previous.Text + next.Text);
                contents.RemoveAt(i);
            }
        }
        return contents;
    }

    /// <summary>Reads the next piece of the answer.</summary>
    /// <returns>What the piece completed: text that is surely outside a call, and the calls whose closing tag arrived.</returns>
    public IReadOnlyList<AIContent> Append(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _pending.Append(text);
        var contents = new List<AIContent>();
        while (true)
        {
            string pending = _pending.ToString();
            if (_insideCall)
            {
                int end = pending.IndexOf(HermesToolCalls.End, StringComparison.Ordinal);
                if (end < 0)
                    return contents;
                AddCall(contents, pending[..end]);
                _insideCall = false;
                _runHasText = false;
                _pending.Remove(0, end + HermesToolCalls.End.Length);
                continue;
            }
            int start = pending.IndexOf(HermesToolCalls.Start, StringComparison.Ordinal);
            if (start >= 0)
            {
                AddText(contents, pending[..start], dropWhiteSpace: true);
                _insideCall = true;
                _runHasText = false;
                _pending.Remove(0, start + HermesToolCalls.Start.Length);
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

    /// <summary>Ends the answer.</summary>
    /// <returns>What was held back: the rest of the text, or a call left open.</returns>
    public IReadOnlyList<AIContent> Complete()
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
            contents.Add(new TextContent(HermesToolCalls.Start + body + (_insideCall ? HermesToolCalls.End : "")));
    }

    private static FunctionCallContent? Parse(string body)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out JsonElement name) || name.ValueKind != JsonValueKind.String
                || name.GetString() is not { Length: > 0 } functionName)
                return null;
            var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (root.TryGetProperty("arguments", out JsonElement given) && given.ValueKind != JsonValueKind.Null)
            {
                if (given.ValueKind != JsonValueKind.Object)
                    return null;
                foreach (JsonProperty argument in given.EnumerateObject())
                    arguments[argument.Name] = argument.Value.Clone();
            }
            return new FunctionCallContent($"call_{Guid.NewGuid():N}", functionName, arguments) { RawRepresentation = body };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // How many characters at the end of the text could begin a '<tool_call>' tag still to come.
    private static int PossibleTagStart(string text)
    {
        for (int length = Math.Min(HermesToolCalls.Start.Length - 1, text.Length); length > 0; length--)
        {
            if (HermesToolCalls.Start.AsSpan(0, length).SequenceEqual(text.AsSpan(text.Length - length)))
                return length;
        }
        return 0;
    }
}
