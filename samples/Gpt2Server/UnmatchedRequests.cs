namespace Gpt2Server;

/// <summary>
/// OpenAI's error JSON for what no endpoint answers: an unknown URL gets 404 (as OpenAI's own "Invalid URL (METHOD
/// /path)"), a known URL with the wrong method 405; ASP.NET Core would send both with an empty body.
/// </summary>
internal static class UnmatchedRequests
{
    public static Task WriteErrorAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        string target = $"{request.Method} {request.Path}";
        OpenAIErrorException? error = context.Response.StatusCode switch
        {
            StatusCodes.Status404NotFound => new OpenAIErrorException(404,
                $"Invalid URL ({target}): this server answers POST /v1/chat/completions, POST /v1/completions, POST /v1/responses, POST /v1/embeddings, GET /v1/models, GET /health" +
                " and, with a classifier, POST /v1/classify.", code: "unknown_url"),
            StatusCodes.Status405MethodNotAllowed => new OpenAIErrorException(405,
                $"Method not allowed ({target}): {request.Path} answers {AllowedMethods(context)}.", code: "method_not_allowed"),
            _ => null,
        };
        return error is null ? Task.CompletedTask : JsonResponses.WriteErrorAsync(context, error);
    }

    private static string AllowedMethods(HttpContext context) =>
        context.Response.Headers.Allow is { Count: > 0 } allow ? string.Join(", ", allow.ToArray()) : "another method";
}
