using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Tests;

/// <summary>
/// The published Qwen3 and Llama 3 tokenizers with the ids the JavaScript port of Hugging Face tokenizers gives
/// (Fixtures/tokenizers, written by make_fixtures.mjs).
/// </summary>
internal static class TokenizerFixture
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizers");

    private static readonly Dictionary<string, Lazy<HuggingFaceTokenizer>> Loaded = new()
    {
        ["qwen3"] = new(() => Load("qwen3")),
        ["llama3"] = new(() => Load("llama3")),
    };

    /// <summary>The tokenizer, loaded once per test run (the files are large).</summary>
    public static HuggingFaceTokenizer Tokenizer(string name) => Loaded[name].Value;

    /// <summary>Loads a tokenizer, with <paramref name="editTokenizerJson"/> applied to its tokenizer.json and another folder's tokenizer_config.json if given.</summary>
    public static HuggingFaceTokenizer Load(string name, Func<JsonNode, JsonNode>? editTokenizerJson = null, string? configFrom = null)
    {
        using Stream config = File.OpenRead(Path.Combine(Folder, configFrom ?? name, "tokenizer_config.json"));
        if (editTokenizerJson is null)
        {
            using Stream tokenizerJson = OpenTokenizerJson(name);
            return HuggingFaceTokenizer.Load(tokenizerJson, config);
        }
        JsonNode edited;
        using (Stream tokenizerJson = OpenTokenizerJson(name))
            edited = editTokenizerJson(JsonNode.Parse(tokenizerJson)!);
        using var stream = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(edited));
        return HuggingFaceTokenizer.Load(stream, config);
    }

    public static Stream OpenTokenizerJson(string name) =>
        new GZipStream(File.OpenRead(Path.Combine(Folder, name, "tokenizer.json.gz")), CompressionMode.Decompress);

    public static CaseFile ReadCases(string name) =>
        JsonSerializer.Deserialize<CaseFile>(File.ReadAllText(Path.Combine(Folder, $"{name}.cases.json")), JsonOptions)!;

    public static Corpus ReadCorpus(string name)
    {
        using var stream = new GZipStream(File.OpenRead(Path.Combine(Folder, $"{name}.sms.json.gz")), CompressionMode.Decompress);
        return JsonSerializer.Deserialize<Corpus>(stream, JsonOptions)!;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNameCaseInsensitive = true };

    /// <summary>
    /// One text and the oracle's ids: <c>Ids</c> with special added tokens as plain text (allowSpecialTokens false),
    /// <c>IdsAllowSpecial</c> with every added token recognised, <c>IdsAddSpecial</c> also with the post-processor's
    /// tokens (add_special_tokens), <c>Decoded</c> the oracle's decoding of <c>IdsAllowSpecial</c>.
    /// </summary>
    public sealed record Case(string Text, int[] Ids, int[] IdsAllowSpecial, int[] IdsAddSpecial, string Decoded);

    public sealed record TemplateCase(string Text, int[] IdsAddSpecial);

    /// <summary>Llama 3.1's tokenizer (Llama 3's with llama3_1/post_processor.json and llama3_1/tokenizer_config.json): its eos and add_special_tokens ids.</summary>
    public sealed record Llama31(string Source, int EosTokenId, TemplateCase[] Cases);

    /// <summary>Another pre-tokenizer put on this tokenizer.json, and the oracle's ids (every added token recognised).</summary>
    public sealed record PreTokenizerVariant(string Name, JsonElement PreTokenizer, TextIds[] Cases);

    public sealed record TextIds(string Text, int[] IdsAllowSpecial);

    public sealed record CaseFile(string Source, int? EosTokenId, int? BosTokenId, int? PadTokenId, Case[] Cases, Llama31? Llama31, PreTokenizerVariant[] PreTokenizerVariants);

    /// <summary>Llama 3.1's tokenizer: Llama 3's tokenizer.json with Llama 3.1's post-processor, and Llama 3.1's tokenizer_config.json.</summary>
    public static HuggingFaceTokenizer LoadLlama31() => Load("llama3", json =>
    {
        json["post_processor"] = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "llama3_1", "post_processor.json")));
        return json;
    }, configFrom: "llama3_1");

    /// <summary>The ids of every line of data/SMSSpamCollection (in file order) and of data/the-verdict.txt.</summary>
    public sealed record Corpus(int[][] Messages, int[] Verdict);
}
