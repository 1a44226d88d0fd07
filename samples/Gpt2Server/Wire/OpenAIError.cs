namespace Gpt2Server.Wire;

/// <summary>OpenAI's error body: <c>{"error":{"message","type","param","code"}}</c>.</summary>
public sealed record OpenAIErrorResponse(OpenAIError Error);

/// <summary>What went wrong: <c>param</c> names the request field at fault and <c>code</c> says what kind of fault, or null.</summary>
public sealed record OpenAIError(string Message, string Type, string? Param, string? Code);
