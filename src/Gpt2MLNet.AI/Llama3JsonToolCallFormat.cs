namespace Gpt2MLNet.AI;

/// <summary>
/// The tool-calling convention of Llama 3.1's and 3.2's chat templates (read by vLLM's <c>llama3_json</c> tool parser):
/// the template renders the tools as JSON (in the first user turn by default), and the model answers with the call alone,
/// as bare JSON <c>{"name": ..., "parameters": {...}}</c>, maybe after <c>&lt;|python_tag|&gt;</c>, several calls
/// separated by <c>; </c>. An answer is either calls or text.
/// </summary>
internal sealed class Llama3JsonToolCallFormat : ToolCallFormat
{
    public const string PythonTag = "<|python_tag|>";

    public static Llama3JsonToolCallFormat Instance { get; } = new();

    private Llama3JsonToolCallFormat()
    {
    }

    public override string ArgumentsKey => "parameters";

    public override string Prefix => "";

    public override string Suffix => "";

    public override string Description => "a bare JSON {\"name\": ..., \"parameters\": ...} answer, as Llama 3.1's and 3.2's templates write calls";

    protected override bool WritesCall(string rendered, string probe) =>
        rendered.Contains("{\"name\": \"" + probe + "\", \"parameters\": {}}", StringComparison.Ordinal);

    public override ToolCallParser CreateParser(bool allowMultipleToolCalls) => new Llama3JsonToolCallParser(allowMultipleToolCalls);
}
