using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Gpt2Server;

/// <summary>A streamed answer as OpenAI streams it: <c>data: JSON</c> events, each flushed, ending with <c>data: [DONE]</c>.</summary>
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

    public static async Task WriteDoneAsync(HttpContext context)
    {
        await context.Response.WriteAsync("data: [DONE]\n\n");
        await context.Response.Body.FlushAsync();
    }
}
