using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// Reads an answer written after tools were offered, whole or as it streams, in the way the prompt format's chat template
/// writes calls (<see cref="ChatPromptFormat.RendersTools"/>), as vLLM's tool parser for that convention reads it: each
/// call becomes a <see cref="FunctionCallContent"/> (a new <c>CallId</c>, the arguments as a dictionary of
/// <see cref="System.Text.Json.JsonElement"/> values), and text that is not a call stays <see cref="TextContent"/>.
/// </summary>
/// <remarks>
/// <para>Qwen2.5's and Qwen3's (vLLM's <c>hermes</c>): each <c>&lt;tool_call&gt;\n{"name": ..., "arguments": {...}}\n&lt;/tool_call&gt;</c>
/// is a call, complete when its closing tag arrives (or at the end, when its JSON is whole); text around the tags stays
/// text; a call whose JSON is not a call stays text, tags included; text that may begin a tag, and white space alone, are
/// held back until the next text decides; white space alone between or around calls is dropped.</para>
/// <para>Llama 3.1's and 3.2's (vLLM's <c>llama3_json</c>): an answer that begins with <c>{</c> or <c>&lt;|python_tag|&gt;</c>
/// is held back to its end and read as calls, <c>{"name": ..., "parameters": {...}}</c> (or <c>arguments</c>), several
/// separated by <c>;</c>; if any part is not a call, the whole answer stays text. Any other answer is text, streamed as
/// it comes.</para>
/// <para>An answer without calls comes back exactly as written. Used by <see cref="Gpt2ChatClient"/> and by the sample
/// server alike, so that both read the same calls.</para>
/// </remarks>
public sealed class ToolCallReader
{
    private readonly ToolCallParser _parser;

    /// <summary>A reader for one answer of a model prompted with <paramref name="format"/>.</summary>
    /// <param name="format">The prompt format the tools were offered with; it must render tools.</param>
    /// <param name="allowMultipleToolCalls">
    /// False keeps only the first call (<see cref="ChatOptions.AllowMultipleToolCalls"/>, OpenAI's <c>parallel_tool_calls</c>):
    /// later calls are dropped, as vLLM drops them.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="format"/> does not render tools.</exception>
    public ToolCallReader(ChatPromptFormat format, bool allowMultipleToolCalls = true)
    {
        ArgumentNullException.ThrowIfNull(format);
        _parser = (format.ToolCallFormat ?? throw new ArgumentException(
            $"The '{format.Name}' prompt format does not render tools, so its answers hold no calls to read (see ChatPromptFormat.RendersTools).", nameof(format)))
            .CreateParser(allowMultipleToolCalls);
    }

    /// <summary>Whether a call has been read.</summary>
    public bool HasToolCalls => _parser.HasToolCalls;

    /// <summary>Reads a whole answer.</summary>
    /// <param name="text">The answer.</param>
    /// <param name="format">The prompt format the tools were offered with; it must render tools.</param>
    /// <param name="allowMultipleToolCalls">False keeps only the first call.</param>
    public static IList<AIContent> ReadAll(string text, ChatPromptFormat format, bool allowMultipleToolCalls = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var reader = new ToolCallReader(format, allowMultipleToolCalls);
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
    /// <returns>What the piece completed: text that is surely not part of a call, and the calls it completed.</returns>
    public IReadOnlyList<AIContent> Append(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _parser.Append(text);
    }

    /// <summary>Ends the answer.</summary>
    /// <returns>What was held back: the rest of the text, or the calls still open.</returns>
    public IReadOnlyList<AIContent> Complete() => _parser.Complete();
}
