using System.Security.Cryptography;
using System.Text;

namespace Gpt2Server;

/// <summary>
/// <c>--api-key</c>: every <c>/v1</c> route needs <c>Authorization: Bearer KEY</c>, else 401 with OpenAI's error JSON
/// (code <c>invalid_api_key</c>); <c>/health</c> and <c>/metrics</c> stay open, as vLLM's. The key is compared in
/// constant time (SHA-256 digests of both, so that neither its content nor its length leaks through timing) and never
/// written anywhere.
/// </summary>
internal sealed class ApiKeyMiddleware(string apiKey)
{
    private readonly byte[] _digest = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!context.Request.Path.StartsWithSegments("/v1"))
            return next(context);
        string? presented = BearerToken(context.Request.Headers.Authorization.ToString());
        if (presented is not null && CryptographicOperations.FixedTimeEquals(_digest, SHA256.HashData(Encoding.UTF8.GetBytes(presented))))
            return next(context);
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return JsonResponses.WriteErrorAsync(context, new OpenAIErrorException(401, presented is null
                ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                : "Incorrect API key provided. Give the key the server was started with (--api-key or GPT2MLNET_API_KEY).",
            code: "invalid_api_key"));
    }

    private static string? BearerToken(string header)
    {
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && header.Length > scheme.Length ? header[scheme.Length..].Trim() : null;
    }
}
