using System.Text.Json;

namespace Gpt2Server;

/// <summary>Runs a handler over a request's JSON body and turns refusals and failures into OpenAI's error JSON.</summary>
internal static class JsonEndpoint
{
    public static async Task HandleAsync(HttpContext context, Func<JsonElement, Task> handler)
    {
        try
        {
            using JsonDocument document = await JsonRequestBody.ReadAsync(context);
            await handler(document.RootElement);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await JsonResponses.WriteErrorAsync(context, new OpenAIErrorException(413, $"The request body is larger than the server's limit: {e.Message}", code: "request_too_large"));
        }
        catch (OpenAIErrorException e)
        {
            await JsonResponses.WriteErrorAsync(context, e);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            await JsonResponses.WriteErrorAsync(context, new OpenAIErrorException(400, e.Message));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; generation stopped at the next token.
        }
        catch (Exception e)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Gpt2Server").LogError(e, "Request failed");
            await JsonResponses.WriteErrorAsync(context, new OpenAIErrorException(500, $"The server failed: {e.Message}", type: "server_error"));
        }
    }
}
