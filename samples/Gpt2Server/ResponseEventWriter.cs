using Gpt2Server.Wire;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// A streamed response's typed events, numbered in order: the lifecycle events, and the output items as text and calls
/// arrive. Text goes into an open message item (one opens when text comes and none is open); a call closes the open
/// message and is sent whole as a <c>function_call</c> item (added, its arguments as one delta, done). One instance per
/// response.
/// </summary>
internal sealed class ResponseEventWriter(HttpContext context)
{
    private readonly List<object> _items = [];
    private int _sequence;
    private string? _messageId;
    private int _messageIndex;
    private readonly System.Text.StringBuilder _text = new();

    public Task LifecycleAsync(string type, ResponseObject response) =>
        ServerSentEvents.WriteEventAsync(context, type, new ResponseLifecycleEvent(type, _sequence++, response), Gpt2ServerJsonContext.Default.ResponseLifecycleEvent);

    public async Task OpenMessageAsync()
    {
        _messageId = ResponsesEndpoint.NewId("msg");
        _messageIndex = _items.Count;
        _items.Add(null!);
        _text.Clear();
        await ItemAsync("response.output_item.added", _messageIndex, new ResponseOutputMessage(_messageId, "in_progress", []));
        await PartAsync("response.content_part.added", new ResponseOutputText(""));
    }

    public async Task TextAsync(string text)
    {
        if (_messageId is null)
            await OpenMessageAsync();
        _text.Append(text);
        await ServerSentEvents.WriteEventAsync(context, "response.output_text.delta", new ResponseTextDeltaEvent(_sequence++, _messageId!, _messageIndex, 0, text),
            Gpt2ServerJsonContext.Default.ResponseTextDeltaEvent);
    }

    public async Task ContentsAsync(IReadOnlyList<AIContent> contents)
    {
        foreach (AIContent content in contents)
        {
            if (content is FunctionCallContent call)
                await CallAsync(call);
            else if (content is TextContent { Text.Length: > 0 } text)
                await TextAsync(text.Text);
        }
    }

    /// <summary>Closes the open message with <paramref name="status"/> (opening an empty one when nothing was written) and returns the output items.</summary>
    public async Task<IReadOnlyList<object>> CompleteAsync(string status)
    {
        if (_items.Count == 0)
            await OpenMessageAsync();
        if (_messageId is not null)
            await CloseMessageAsync(status);
        return _items;
    }

    private async Task CallAsync(FunctionCallContent call)
    {
        if (_messageId is not null)
            await CloseMessageAsync("completed");
        string id = ResponsesEndpoint.NewId("fc"), arguments = ResponsesEndpoint.Arguments(call);
        int index = _items.Count;
        var done = new ResponseFunctionCall(id, call.CallId, call.Name, arguments, "completed");
        _items.Add(done);
        await ItemAsync("response.output_item.added", index, done with { Arguments = "", Status = "in_progress" });
        await ServerSentEvents.WriteEventAsync(context, "response.function_call_arguments.delta",
            new ResponseFunctionCallArgumentsDeltaEvent(_sequence++, id, index, arguments), Gpt2ServerJsonContext.Default.ResponseFunctionCallArgumentsDeltaEvent);
        await ServerSentEvents.WriteEventAsync(context, "response.function_call_arguments.done",
            new ResponseFunctionCallArgumentsDoneEvent(_sequence++, id, index, call.Name, arguments), Gpt2ServerJsonContext.Default.ResponseFunctionCallArgumentsDoneEvent);
        await ItemAsync("response.output_item.done", index, done);
    }

    private async Task CloseMessageAsync(string status)
    {
        string text = _text.ToString();
        var part = new ResponseOutputText(text);
        var message = new ResponseOutputMessage(_messageId!, status, [part]);
        _items[_messageIndex] = message;
        await ServerSentEvents.WriteEventAsync(context, "response.output_text.done", new ResponseTextDoneEvent(_sequence++, _messageId!, _messageIndex, 0, text),
            Gpt2ServerJsonContext.Default.ResponseTextDoneEvent);
        await PartAsync("response.content_part.done", part);
        await ItemAsync("response.output_item.done", _messageIndex, message);
        _messageId = null;
    }

    private Task ItemAsync(string type, int index, object item) =>
        ServerSentEvents.WriteEventAsync(context, type, new ResponseOutputItemEvent(type, _sequence++, index, item), Gpt2ServerJsonContext.Default.ResponseOutputItemEvent);

    private Task PartAsync(string type, ResponseOutputText part) =>
        ServerSentEvents.WriteEventAsync(context, type, new ResponseContentPartEvent(type, _sequence++, _messageId!, _messageIndex, 0, part),
            Gpt2ServerJsonContext.Default.ResponseContentPartEvent);
}
