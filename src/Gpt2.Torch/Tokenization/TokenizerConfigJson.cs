using System.Text.Json;

namespace Gpt2.Torch.Tokenization;

/// <summary>What this project takes from a Hugging Face <c>tokenizer_config.json</c> (and <c>generation_config.json</c>).</summary>
internal sealed class TokenizerConfigJson
{
    public string? BeginningOfText { get; private init; }
    public string? EndOfText { get; private init; }
    public string? Padding { get; private init; }
    public string? ChatTemplate { get; private init; }

    /// <summary>added_tokens_decoder: tokens the tokenizer has besides those of tokenizer.json (usually the same ones).</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; private init; } = [];

    public static TokenizerConfigJson Empty { get; } = new();

    /// <exception cref="InvalidDataException">A field has the wrong shape; the message names it.</exception>
    public static TokenizerConfigJson Read(Stream stream)
    {
        using JsonDocument document = TokenizerJson.ParseDocument(stream, "tokenizer_config.json");
        JsonElement root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw Invalid("the file must hold a JSON object");
        return new TokenizerConfigJson
        {
            BeginningOfText = TokenText(root, "bos_token"),
            EndOfText = TokenText(root, "eos_token"),
            Padding = TokenText(root, "pad_token"),
            ChatTemplate = ReadChatTemplate(root),
            AddedTokens = ReadAddedTokensDecoder(root),
        };
    }

    /// <summary>generation_config.json's <c>eos_token_id</c>: one id or a list of them (none when absent).</summary>
    public static IReadOnlyList<int> ReadGenerationEndIds(Stream stream)
    {
        using JsonDocument document = TokenizerJson.ParseDocument(stream, "generation_config.json");
        if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("eos_token_id", out JsonElement eos))
            return [];
        return eos.ValueKind switch
        {
            JsonValueKind.Null => [],
            JsonValueKind.Number when eos.TryGetInt32(out int id) => [id],
            JsonValueKind.Array when eos.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out _)) =>
                [.. eos.EnumerateArray().Select(e => e.GetInt32())],
            _ => throw new InvalidDataException("generation_config.json: eos_token_id must be an integer id or a list of them."),
        };
    }

    // A special token is written as its text or as {"content": text, ...} (an AddedToken).
    private static string? TokenText(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind == JsonValueKind.String)
            return value.GetString();
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out JsonElement content) && content.ValueKind == JsonValueKind.String)
            return content.GetString();
        throw Invalid($"{name} must be the token's text, {{\"content\": text}} or null");
    }

    // A string, or a list of {"name", "template"} of which "default" is the chat template.
    private static string? ReadChatTemplate(JsonElement root)
    {
        if (!root.TryGetProperty("chat_template", out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind == JsonValueKind.String)
            return value.GetString();
        if (value.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement entry in value.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object
                    || !entry.TryGetProperty("name", out JsonElement name) || name.ValueKind != JsonValueKind.String
                    || !entry.TryGetProperty("template", out JsonElement template) || template.ValueKind != JsonValueKind.String)
                    throw Invalid("chat_template as a list must hold {\"name\": ..., \"template\": ...} objects");
                if (name.GetString() == "default")
                    return template.GetString();
            }
            return null;
        }
        throw Invalid("chat_template must be a string or a list of named templates");
    }

    private static List<AddedToken> ReadAddedTokensDecoder(JsonElement root)
    {
        var tokens = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens_decoder", out JsonElement decoder) || decoder.ValueKind == JsonValueKind.Null)
            return tokens;
        if (decoder.ValueKind != JsonValueKind.Object)
            throw Invalid("added_tokens_decoder must map ids to tokens");
        foreach (JsonProperty entry in decoder.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, out int id) || id < 0 || entry.Value.ValueKind != JsonValueKind.Object
                || !entry.Value.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String || content.GetString()!.Length == 0)
                throw Invalid($"added_tokens_decoder['{entry.Name}'] must be an id mapped to {{\"content\": text, ...}}");
            foreach (string flag in (string[])["lstrip", "rstrip", "single_word"])
            {
                if (entry.Value.TryGetProperty(flag, out JsonElement value) && value.ValueKind == JsonValueKind.True)
                    throw Invalid($"added_tokens_decoder '{content.GetString()}' sets {flag} true, which is not supported");
            }
            bool special = entry.Value.TryGetProperty("special", out JsonElement specialElement) && specialElement.ValueKind == JsonValueKind.True;
            tokens.Add(new AddedToken(id, content.GetString()!, special));
        }
        return tokens;
    }

    private static InvalidDataException Invalid(string problem) => new($"tokenizer_config.json: {problem}.");
}
