using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Gpt2Server;

/// <summary>
/// A streamed answer as OpenAI streams it: <c>data: JSON</c> events, each flushed, ending with <c>data: [DONE]</c> (the
/// Responses API's typed events have an <c>event:</c> line too, and no <c>[DONE]</c>).
/// </summary>
internal static class ServerSentEvents
{
    public static async Task StartAsync(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.StartAsync();
        await context.Response.Body.FlushAsync();   // the 200 goes out now: an admitted client knows it before the first token
    }

    public static async Task WriteEventAsync<T>(HttpContext context, T value, JsonTypeInfo<T> type)
    {
        await context.Response.WriteAsync($"data: {JsonSerializer.Serialize(value, type)}\n\n");
        await context.Response.Body.FlushAsync();
    }

    /// <summary>A typed event, as the Responses API streams them: an <c>event:</c> line naming it before its data.</summary>
    public static async Task WriteEventAsync<T>(HttpContext context, string name, T value, JsonTypeInfo<T> type)
    {
        await context.Response.WriteAsync($"event: {name}\ndata: {JsonSerializer.Serialize(value, type)}\n\n");
        await context.Response.Body.FlushAsync();
    }

    public static async Task WriteDoneAsync(HttpContext context)
    {
        await context.Response.WriteAsync("data: [DONE]\n\n");
        await context.Response.Body.FlushAsync();
    }
}
