namespace Gpt2Server;

/// <summary>A request the server refuses, written as OpenAI's error JSON (<c>{"error":{"message","type","param","code"}}</c>).</summary>
public sealed class OpenAIErrorException(int status, string message, string? param = null, string? code = null,
    string type = "invalid_request_error") : Exception(message)
{
    /// <summary>The HTTP status code.</summary>
    public int Status { get; } = status;

    /// <summary>OpenAI's error type.</summary>
    public string Type { get; } = type;

    /// <summary>The request field at fault, or null.</summary>
    public string? Param { get; } = param;

    /// <summary>A machine-readable code, or null.</summary>
    public string? Code { get; } = code;
}
