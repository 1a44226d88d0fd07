namespace Gpt2Server.Wire;

/// <summary>
/// A function call in a response's <c>output</c>: the function's name and its arguments as a JSON string, with the
/// <c>call_id</c> a <c>function_call_output</c> item answers. <c>arguments</c> is empty in
/// <c>response.output_item.added</c>, when the call is being written.
/// </summary>
public sealed record ResponseFunctionCall(string Id, string CallId, string Name, string Arguments, string Status)
{
    /// <summary>Always <c>"function_call"</c>.</summary>
    public string Type => "function_call";
}

/// <summary><c>response.function_call_arguments.delta</c>: arguments added to the call (here the whole arguments at once, as a call is read whole).</summary>
public sealed record ResponseFunctionCallArgumentsDeltaEvent(int SequenceNumber, string ItemId, int OutputIndex, string Delta)
{
    /// <summary>Always <c>"response.function_call_arguments.delta"</c>.</summary>
    public string Type => "response.function_call_arguments.delta";
}

/// <summary><c>response.function_call_arguments.done</c>: the call's whole arguments.</summary>
public sealed record ResponseFunctionCallArgumentsDoneEvent(int SequenceNumber, string ItemId, int OutputIndex, string Name, string Arguments)
{
    /// <summary>Always <c>"response.function_call_arguments.done"</c>.</summary>
    public string Type => "response.function_call_arguments.done";
}
