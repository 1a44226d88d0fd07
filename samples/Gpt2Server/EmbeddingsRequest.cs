using System.Text.Json;

namespace Gpt2Server;

/// <summary>
/// The fields of an OpenAI embeddings request, read and checked strictly (a bad field is a 400 naming it): <c>input</c>
/// as a string, an array of strings, an array of token ids or an array of token-id arrays (at most
/// <see cref="MaxInputs"/>, none empty); <c>encoding_format</c> <c>"float"</c> (the default) or <c>"base64"</c>;
/// <c>dimensions</c>, which this model cannot shorten, only when it equals the embedding size; <c>user</c> is accepted
/// and not used.
/// </summary>
internal sealed class EmbeddingsRequest
{
    /// <summary>OpenAI's limit on inputs per request.</summary>
    public const int MaxInputs = 2048;

    private EmbeddingsRequest(string model, IReadOnlyList<string>? texts, IReadOnlyList<IReadOnlyList<int>>? tokenIds, bool base64, bool inputIsArray)
    {
        Model = model;
        Texts = texts;
        TokenIds = tokenIds;
        Base64 = base64;
        InputIsArray = inputIsArray;
    }

    /// <summary>The model the client asked for.</summary>
    public string Model { get; }

    /// <summary>The inputs when they are text, else null.</summary>
    public IReadOnlyList<string>? Texts { get; }

    /// <summary>The inputs when they are token ids, else null.</summary>
    public IReadOnlyList<IReadOnlyList<int>>? TokenIds { get; }

    /// <summary>Whether vectors go out as base64 little-endian float32 bytes rather than JSON numbers.</summary>
    public bool Base64 { get; }

    /// <summary>Whether <c>input</c> was an array, so that errors name an input as <c>input[i]</c>.</summary>
    public bool InputIsArray { get; }

    /// <summary>The request field that holds input <paramref name="index"/>.</summary>
    public string InputParam(int index) => InputIsArray ? $"input[{index}]" : "input";

    public static EmbeddingsRequest Read(JsonElement body, int embeddingSize)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw new OpenAIErrorException(400, "The request body must be a JSON object.", code: "invalid_json");
        string model = body.TryGetProperty("model", out JsonElement m) && m.ValueKind == JsonValueKind.String && m.GetString() is { Length: > 0 } name
            ? name : throw new OpenAIErrorException(400, "'model' is required: a string naming the model (GET /v1/models lists it).", "model");
        bool base64 = false;
        if (Present(body, "encoding_format", out JsonElement format))
            base64 = format.ValueKind == JsonValueKind.String && format.GetString() is "float" or "base64"
                ? format.GetString() == "base64"
                : throw new OpenAIErrorException(400, $"encoding_format must be \"float\" or \"base64\", not {format.GetRawText()}.", "encoding_format", "invalid_value");
        if (Present(body, "dimensions", out JsonElement dimensions)
            && !(dimensions.ValueKind == JsonValueKind.Number && dimensions.TryGetInt32(out int asked) && asked == embeddingSize))
            throw new OpenAIErrorException(400,
                $"'dimensions' is not supported ({dimensions.GetRawText()} was sent): this model's embeddings have {embeddingSize} dimensions and cannot be shortened; send {embeddingSize} or leave it out.",
                "dimensions", "unsupported_parameter");
        if (Present(body, "truncate_prompt_tokens", out JsonElement truncate))
            throw new OpenAIErrorException(400,
                $"'truncate_prompt_tokens' is not supported ({truncate.GetRawText()} was sent): inputs are never cut; shorten them to the model's context instead.",
                "truncate_prompt_tokens", "unsupported_parameter");
        if (Present(body, "user", out JsonElement user) && user.ValueKind != JsonValueKind.String)
            throw new OpenAIErrorException(400, "user must be a string.", "user", "invalid_type");

        if (!Present(body, "input", out JsonElement input))
            throw new OpenAIErrorException(400, "'input' is required: a string, an array of strings, an array of token ids or an array of token-id arrays.", "input");
        const string shapes = "input must be a string, an array of strings, an array of token ids or an array of token-id arrays";
        if (input.ValueKind == JsonValueKind.String)
            return new EmbeddingsRequest(model, [NonEmpty(input.GetString()!, "input")], null, base64, inputIsArray: false);
        if (input.ValueKind != JsonValueKind.Array)
            throw new OpenAIErrorException(400, $"{shapes}.", "input", "invalid_type");
        int count = input.GetArrayLength();
        if (count == 0)
            throw new OpenAIErrorException(400, "input is an empty array; send at least one text or token list.", "input", "invalid_value");
        if (input[0].ValueKind == JsonValueKind.Number)
            return new EmbeddingsRequest(model, null, [Tokens(input, "input")], base64, inputIsArray: false);
        if (count > MaxInputs)
            throw new OpenAIErrorException(400, $"input has {count} items; at most {MaxInputs} inputs per request.", "input", "invalid_value");
        if (input[0].ValueKind == JsonValueKind.String)
        {
            var texts = new string[count];
            for (int i = 0; i < count; i++)
                texts[i] = input[i].ValueKind == JsonValueKind.String ? NonEmpty(input[i].GetString()!, $"input[{i}]")
                    : throw new OpenAIErrorException(400, $"{shapes}, not a mix: input[{i}] is not a string.", $"input[{i}]", "invalid_type");
            return new EmbeddingsRequest(model, texts, null, base64, inputIsArray: true);
        }
        if (input[0].ValueKind == JsonValueKind.Array)
        {
            var lists = new IReadOnlyList<int>[count];
            for (int i = 0; i < count; i++)
                lists[i] = input[i].ValueKind == JsonValueKind.Array ? Tokens(input[i], $"input[{i}]")
                    : throw new OpenAIErrorException(400, $"{shapes}, not a mix: input[{i}] is not an array of token ids.", $"input[{i}]", "invalid_type");
            return new EmbeddingsRequest(model, null, lists, base64, inputIsArray: true);
        }
        throw new OpenAIErrorException(400, $"{shapes}.", "input[0]", "invalid_type");
    }

    private static string NonEmpty(string text, string param) => text.Length > 0 ? text
        : throw new OpenAIErrorException(400, $"{param} is empty; an embedding needs at least one token.", param, "invalid_value");

    private static int[] Tokens(JsonElement list, string param)
    {
        if (list.GetArrayLength() == 0)
            throw new OpenAIErrorException(400, $"{param} is an empty token list; an embedding needs at least one token.", param, "invalid_value");
        var ids = new int[list.GetArrayLength()];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = list[i].ValueKind == JsonValueKind.Number && list[i].TryGetInt32(out int id) ? id
                : throw new OpenAIErrorException(400, $"{param}[{i}] must be a token id (an integer).", param, "invalid_type");
        return ids;
    }

    private static bool Present(JsonElement body, string name, out JsonElement value) =>
        body.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;
}
