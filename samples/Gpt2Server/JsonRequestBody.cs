using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Gpt2Server;

/// <summary>
/// Reads a request body as JSON text, refusing with a 400 what is not: malformed JSON, bytes that are not UTF-8, and
/// strings whose escapes are not valid UTF-16 (lone surrogates). JsonDocument checks neither of the last two until a
/// string is read, which would fail deep in a handler as a 500.
/// </summary>
internal static class JsonRequestBody
{
    public static async Task<JsonDocument> ReadAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        ReadOnlyMemory<byte> bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (bytes.Span.StartsWith(Encoding.UTF8.Preamble))
            bytes = bytes[Encoding.UTF8.Preamble.Length..];
        if (!Utf8.IsValid(bytes.Span))
            throw new OpenAIErrorException(400,
                $"The request body is not valid UTF-8 (the first bad byte is at offset {FirstInvalidByte(bytes.Span)}); send JSON encoded as UTF-8.",
                code: "invalid_json");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes.ToArray());
        }
        catch (JsonException e)
        {
            throw new OpenAIErrorException(400, $"The request body is not valid JSON: {e.Message}", code: "invalid_json");
        }
        try
        {
            CheckStrings(document.RootElement, "");
        }
        catch
        {
            document.Dispose();
            throw;
        }
        return document;
    }

    private static int FirstInvalidByte(ReadOnlySpan<byte> bytes)
    {
        int offset = 0;
        while (Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed) == System.Buffers.OperationStatus.Done)
            offset += consumed;
        return offset;
    }

    private static void CheckStrings(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                Text(() => element.GetString(), path);
                break;
            case JsonValueKind.Array:
                int index = 0;
                foreach (JsonElement item in element.EnumerateArray())
                    CheckStrings(item, $"{path}[{index++}]");
                break;
            case JsonValueKind.Object:
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    string name = Text(() => property.Name, path.Length == 0 ? "a field name" : $"a field name in {path}")!;
                    CheckStrings(property.Value, path.Length == 0 ? name : $"{path}.{name}");
                }
                break;
        }
    }

    private static string? Text(Func<string?> read, string where)
    {
        try
        {
            return read();
        }
        catch (InvalidOperationException e)
        {
            throw new OpenAIErrorException(400, $"The request body has text that is not valid Unicode at {where}: {e.Message} Send well-formed text (no lone surrogates).",
                where.StartsWith("a field name", StringComparison.Ordinal) ? null : where, "invalid_json");
        }
    }
}
