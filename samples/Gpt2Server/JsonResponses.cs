using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gpt2Server.Wire;

namespace Gpt2Server;

/// <summary>Writes answers and OpenAI's error JSON.</summary>
internal static class JsonResponses
{
    public static async Task WriteAsync<T>(HttpContext context, int status, T value, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(value, type));
    }

    public static async Task WriteErrorAsync(HttpContext context, OpenAIErrorException error)
    {
        var body = new OpenAIErrorResponse(new OpenAIError(error.Message, error.Type, error.Param, error.Code));
        if (context.Response.HasStarted)
        {
            // A stream already under way: the error becomes its last event.
            if (!context.RequestAborted.IsCancellationRequested)
                await ServerSentEvents.WriteEventAsync(context, body, Gpt2ServerJsonContext.Default.OpenAIErrorResponse);
            return;
        }
        if (error.Status == 429)
            context.Response.Headers.RetryAfter = "1";
        await WriteAsync(context, error.Status, body, Gpt2ServerJsonContext.Default.OpenAIErrorResponse);
    }
}
