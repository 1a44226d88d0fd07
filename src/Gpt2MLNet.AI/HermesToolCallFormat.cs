namespace Gpt2MLNet.AI;

/// <summary>
/// The tool-calling convention of Hermes-style chat templates (Qwen2.5's and Qwen3's, read by vLLM's <c>hermes</c> tool
/// parser): the template renders the tools into the system turn, and the model writes each call as
/// <c>&lt;tool_call&gt;\n{"name": ..., "arguments": {...}}\n&lt;/tool_call&gt;</c>, with text around the calls if it likes.
/// </summary>
internal sealed class HermesToolCallFormat : ToolCallFormat
{
    public const string Start = "<tool_call>";
    public const string End = "</tool_call>";

    public static HermesToolCallFormat Instance { get; } = new();

    private HermesToolCallFormat()
    {
    }

    public override string ArgumentsKey => "arguments";

    // Exactly what the templates write around a call's JSON, so that a constrained call reads like the calls the model saw in training.
    public override string Prefix => Start + "\n";

    public override string Suffix => "\n" + End;

    public override string Description => "<tool_call> JSON </tool_call>, as Qwen2.5's and Qwen3's templates write calls";

    protected override bool WritesCall(string rendered, string probe) =>
        rendered.Contains(Start + "\n{\"name\": \"" + probe + "\"", StringComparison.Ordinal) && rendered.Contains(End, StringComparison.Ordinal);

    public override ToolCallParser CreateParser(bool allowMultipleToolCalls) => new HermesToolCallParser(allowMultipleToolCalls);
}
