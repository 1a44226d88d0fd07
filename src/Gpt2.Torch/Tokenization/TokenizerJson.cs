using System.Text;
using System.Text.Json;

namespace Gpt2.Torch.Tokenization;

/// <summary>One entry of <c>added_tokens</c>: a token matched in the text before pre-tokenization.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special);

/// <summary>How the text is cut into pieces before byte-level BPE.</summary>
/// <param name="Pattern">The pieces' regular expression (the Split pattern, or GPT-2's when ByteLevel cuts with its own).</param>
/// <param name="AddPrefixSpace">Whether a space is put before each stretch of text that does not start with one (ByteLevel's add_prefix_space).</param>
/// <param name="IsolateDigits">Whether every number character is a piece of its own before the pattern cuts the rest (SmolLM2's Digits pre-tokenizer with individual_digits).</param>
internal sealed record PreTokenization(string Pattern, bool AddPrefixSpace, bool IsolateDigits = false);

/// <summary>
/// What this project takes from a Hugging Face <c>tokenizer.json</c> for byte-level BPE, with every field it does not
/// implement refused by name.
/// </summary>
/// <remarks>
/// Files with <c>ignore_merges</c> (Llama 3: a piece that is itself a token stays whole) are run as tiktoken runs BPE,
/// merging first the adjacent pair whose merged token has the lowest id; that is the merges' order when merge results
/// have increasing ids, which is checked here for those files (Fixtures/tokenizers/check_merge_order.py shows it for
/// Llama 3 and Qwen3). Files without it (Qwen2.5, Qwen3, SmolLM2) keep their merges for Hugging Face's own algorithm.
/// </remarks>
internal sealed class TokenizerJson
{
    /// <summary>GPT-2's pre-tokenization pattern, which the ByteLevel pre-tokenizer uses when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private TokenizerJson(Dictionary<string, int> vocab, List<string>? merges, byte[][] tokenBytes, bool[] isModelToken, List<AddedToken> addedTokens,
        NormalizationForm? normalization, PreTokenization preTokenization, string? beginningOfText)
    {
        Vocab = vocab;
        Merges = merges;
        TokenBytes = tokenBytes;
        IsModelToken = isModelToken;
        AddedTokens = addedTokens;
        Normalization = normalization;
        PreTokenization = preTokenization;
        BeginningOfText = beginningOfText;
    }

    /// <summary>model.vocab: each model token, written in the byte-level alphabet, and its id.</summary>
    public Dictionary<string, int> Vocab { get; }

    /// <summary>model.merges as "left right", or null when <c>ignore_merges</c> is set and BPE runs by token id instead.</summary>
    public List<string>? Merges { get; }

    /// <summary>The bytes of each id; model tokens and added tokens alike; empty for ids nothing uses.</summary>
    public byte[][] TokenBytes { get; }

    /// <summary>Whether each id is a model (BPE) token written in the byte-level alphabet, which BPE may produce.</summary>
    public bool[] IsModelToken { get; }

    /// <summary>The added tokens; tokenizer_config.json's added_tokens_decoder may add more.</summary>
    public List<AddedToken> AddedTokens { get; }

    /// <summary>The Unicode normalization applied to text outside added tokens, or null for none.</summary>
    public NormalizationForm? Normalization { get; }

    /// <summary>How text between added tokens is cut into pieces.</summary>
    public PreTokenization PreTokenization { get; }

    /// <summary>The token the post-processor's template puts before the text, or null.</summary>
    public string? BeginningOfText { get; }

    /// <summary>Reads and checks a <c>tokenizer.json</c>.</summary>
    /// <exception cref="InvalidDataException">The file is not byte-level BPE of the kind implemented here; the message names the field.</exception>
    public static TokenizerJson Read(Stream stream)
    {
        using JsonDocument document = ParseDocument(stream, "tokenizer.json");
        JsonElement root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw Invalid("the file must hold a JSON object");

        JsonElement model = Required(root, "model", JsonValueKind.Object);
        CheckModel(model);
        Dictionary<string, int> vocab = ReadVocab(model);
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out JsonElement ignore) && ignore.ValueKind == JsonValueKind.True;
        List<string>? merges = ReadMerges(model, vocab, keep: !ignoreMerges, requireIdOrder: ignoreMerges);
        List<AddedToken> added = ReadAddedTokens(root);
        NormalizationForm? normalization = ReadNormalizer(root);
        PreTokenization preTokenization = ReadPreTokenizer(root);
        CheckDecoder(root);
        string? beginningOfText = ReadPostProcessor(root);

        int size = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, added.Count == 0 ? 0 : added.Max(t => t.Id) + 1);
        var tokenBytes = new byte[size][];
        Array.Fill(tokenBytes, []);
        var isModelToken = new bool[size];
        var addedById = added.ToDictionary(t => t.Id);
        int[] unicodeToByte = ByteLevelAlphabet.UnicodeToByte;
        foreach ((string token, int id) in vocab)
        {
            byte[]? bytes = FromByteLevel(token, unicodeToByte);
            if (bytes is null)
            {
                // Some files repeat their added tokens in model.vocab, written as plain text.
                if (addedById.ContainsKey(id))
                    continue;
                throw Invalid($"model.vocab token '{token}' (id {id}) is not written in the byte-level alphabet: only byte-level BPE is supported");
            }
            tokenBytes[id] = bytes;
            isModelToken[id] = true;
        }
        for (int b = 0; b < 256; b++)
        {
            if (!vocab.ContainsKey(ByteLevelAlphabet.ByteToUnicode[b].ToString()))
                throw Invalid($"model.vocab has no token for byte {b} ('{ByteLevelAlphabet.ByteToUnicode[b]}'): byte-level BPE needs all 256");
        }
        foreach (AddedToken token in added)
            tokenBytes[token.Id] = Encoding.UTF8.GetBytes(token.Content);
        if (beginningOfText is not null && !added.Any(t => t.Content == beginningOfText))
            throw Invalid($"post_processor's template puts '{beginningOfText}' first, which is not in added_tokens");
        return new TokenizerJson(vocab, merges, tokenBytes, isModelToken, added, normalization, preTokenization, beginningOfText);
    }

    internal static JsonDocument ParseDocument(Stream stream, string fileName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        try
        {
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{fileName} is not valid JSON: {e.Message}", e);
        }
    }

    private static void CheckModel(JsonElement model)
    {
        string type = model.TryGetProperty("type", out JsonElement typeElement) && typeElement.ValueKind == JsonValueKind.String
            ? typeElement.GetString()!
            : "(none)";
        if (type != "BPE")
            throw Invalid($"model.type '{type}' is not supported: only byte-level BPE (Llama 3, SmolLM2, Qwen2.5, Qwen3) is implemented, not Unigram, WordPiece or WordLevel");
        if (model.TryGetProperty("dropout", out JsonElement dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() != 0)
            throw Invalid("model.dropout is not supported: BPE dropout is for training; set it to null");
        if (model.TryGetProperty("byte_fallback", out JsonElement byteFallback) && byteFallback.ValueKind == JsonValueKind.True)
            throw Invalid("model.byte_fallback true is not supported: it belongs to SentencePiece-style BPE (<0xNN> tokens), not byte-level BPE");
        foreach (string field in (string[])["continuing_subword_prefix", "end_of_word_suffix"])
        {
            if (model.TryGetProperty(field, out JsonElement value) && value.ValueKind == JsonValueKind.String && value.GetString()!.Length > 0)
                throw Invalid($"model.{field} '{value.GetString()}' is not supported: byte-level BPE has none (null or empty)");
        }
        if (model.TryGetProperty("fuse_unk", out JsonElement fuseUnk) && fuseUnk.ValueKind == JsonValueKind.True)
            throw Invalid("model.fuse_unk true is not supported: byte-level BPE has no unknown token to fuse");
    }

    private static Dictionary<string, int> ReadVocab(JsonElement model)
    {
        JsonElement vocabElement = Required(model, "vocab", JsonValueKind.Object, "model.");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = new HashSet<int>();
        foreach (JsonProperty entry in vocabElement.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw Invalid($"model.vocab['{entry.Name}'] must be a non-negative integer id");
            if (!seen.Add(id))
                throw Invalid($"model.vocab gives id {id} to two tokens");
            vocab[entry.Name] = id;
        }
        return vocab;
    }

    // Each merge must join two vocabulary tokens into a third; running BPE by token id (tiktoken's way, for ignore_merges)
    // also needs the merges in the order of their results' ids.
    private static List<string>? ReadMerges(JsonElement model, Dictionary<string, int> vocab, bool keep, bool requireIdOrder)
    {
        JsonElement merges = Required(model, "merges", JsonValueKind.Array, "model.");
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        int previous = -1, index = 0;
        List<string>? kept = keep ? new List<string>(merges.GetArrayLength()) : null;
        Span<char> buffer = stackalloc char[256];
        foreach (JsonElement merge in merges.EnumerateArray())
        {
            string first, second = "";
            if (merge.ValueKind == JsonValueKind.String)
            {
                first = merge.GetString()!;
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                first = merge[0].GetString()!;
                second = merge[1].GetString()!;
            }
            else
            {
                throw Invalid($"model.merges[{index}] must be \"left right\" or [\"left\", \"right\"]");
            }
            ReadOnlySpan<char> left = first, right = second;
            if (merge.ValueKind == JsonValueKind.String)
            {
                int space = first.IndexOf(' ', StringComparison.Ordinal);
                if (space <= 0 || space == first.Length - 1 || first.IndexOf(' ', space + 1) >= 0)
                    throw Invalid($"model.merges[{index}] '{first}' must be two tokens separated by one space");
                left = first.AsSpan(0, space);
                right = first.AsSpan(space + 1);
            }
            int length = left.Length + right.Length;
            Span<char> joined = length <= buffer.Length ? buffer[..length] : new char[length];
            left.CopyTo(joined);
            right.CopyTo(joined[left.Length..]);
            if (!lookup.ContainsKey(left) || !lookup.ContainsKey(right) || !lookup.TryGetValue(joined, out int id))
                throw Invalid($"model.merges[{index}] ('{left}', '{right}') does not join two model.vocab tokens into a third");
            if (requireIdOrder && id < previous)
                throw Invalid($"model.merges[{index}] ('{left}', '{right}') makes id {id} after a merge made id {previous}: with ignore_merges this loader merges in token-id order (tiktoken's ranks), which needs merges listed in the order of their tokens' ids");
            previous = id;
            index++;
            kept?.Add(merge.ValueKind == JsonValueKind.String ? first : $"{first} {second}");
        }
        return kept;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root)
    {
        var added = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out JsonElement list) || list.ValueKind == JsonValueKind.Null)
            return added;
        if (list.ValueKind != JsonValueKind.Array)
            throw Invalid("added_tokens must be a list");
        foreach (JsonElement entry in list.EnumerateArray())
        {
            if (!entry.TryGetProperty("id", out JsonElement idElement) || !idElement.TryGetInt32(out int id) || id < 0
                || !entry.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String || content.GetString()!.Length == 0)
                throw Invalid("each added_tokens entry needs an integer id and a non-empty content");
            string text = content.GetString()!;
            foreach (string flag in (string[])["lstrip", "rstrip", "single_word"])
            {
                if (entry.TryGetProperty(flag, out JsonElement value) && value.ValueKind == JsonValueKind.True)
                    throw Invalid($"added_tokens '{text}' sets {flag} true, which is not supported");
            }
            bool special = entry.TryGetProperty("special", out JsonElement specialElement) && specialElement.ValueKind == JsonValueKind.True;
            if (added.Any(t => t.Id == id || t.Content == text))
                throw Invalid($"added_tokens lists id {id} or '{text}' twice");
            added.Add(new AddedToken(id, text, special));
        }
        return added;
    }

    private static NormalizationForm? ReadNormalizer(JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out JsonElement normalizer) || normalizer.ValueKind == JsonValueKind.Null)
            return null;
        string type = TypeOf(normalizer);
        return type switch
        {
            "NFC" => NormalizationForm.FormC,
            "NFKC" => NormalizationForm.FormKC,
            "Sequence" when normalizer.TryGetProperty("normalizers", out JsonElement inner) && inner.ValueKind == JsonValueKind.Array && inner.GetArrayLength() == 0 => null,
            _ => throw Invalid($"normalizer '{type}' is not supported: only NFC, NFKC or null"),
        };
    }

    private static PreTokenization ReadPreTokenizer(JsonElement root)
    {
        if (!root.TryGetProperty("pre_tokenizer", out JsonElement pre) || pre.ValueKind == JsonValueKind.Null)
            throw Invalid("pre_tokenizer null is not supported: byte-level BPE needs the ByteLevel pre-tokenizer");
        string type = TypeOf(pre);
        if (type == "ByteLevel")
        {
            bool useRegex = !pre.TryGetProperty("use_regex", out JsonElement useRegexElement) || useRegexElement.ValueKind != JsonValueKind.False;
            if (!useRegex)
                throw Invalid("pre_tokenizer ByteLevel with use_regex false alone is not supported: put a Split before it");
            return new PreTokenization(Gpt2Pattern, AddPrefixSpace(pre));
        }
        if (type != "Sequence")
            throw Invalid($"pre_tokenizer '{type}' is not supported: only ByteLevel, or a Sequence of Split or Digits then ByteLevel");
        JsonElement steps = Required(pre, "pretokenizers", JsonValueKind.Array, "pre_tokenizer.");
        string[] types = [.. steps.EnumerateArray().Select(TypeOf)];
        if (types is ["Digits", "ByteLevel"])
            return ReadDigitsThenByteLevel(steps[0], steps[1]);
        if (types is not ["Split", "ByteLevel"])
            throw Invalid($"pre_tokenizer Sequence [{string.Join(", ", types)}] is not supported: only [Split, ByteLevel] and [Digits, ByteLevel]");
        JsonElement split = steps[0], byteLevel = steps[1];
        if (!split.TryGetProperty("pattern", out JsonElement pattern) || !pattern.TryGetProperty("Regex", out JsonElement regex) || regex.ValueKind != JsonValueKind.String)
            throw Invalid("pre_tokenizer Split needs pattern.Regex (a String pattern is not supported)");
        string behavior = split.TryGetProperty("behavior", out JsonElement behaviorElement) ? behaviorElement.GetString() ?? "" : "";
        if (behavior != "Isolated")
            throw Invalid($"pre_tokenizer Split behavior '{behavior}' is not supported: only Isolated");
        if (split.TryGetProperty("invert", out JsonElement invert) && invert.ValueKind == JsonValueKind.True)
            throw Invalid("pre_tokenizer Split invert true is not supported");
        if (!byteLevel.TryGetProperty("use_regex", out JsonElement byteLevelRegex) || byteLevelRegex.ValueKind != JsonValueKind.False)
            throw Invalid("pre_tokenizer ByteLevel after a Split must set use_regex false (a second regex split is not supported)");
        return new PreTokenization(regex.GetString()!, AddPrefixSpace(byteLevel));
    }

    // SmolLM2: each number character alone, then GPT-2's pattern on the text between them.
    private static PreTokenization ReadDigitsThenByteLevel(JsonElement digits, JsonElement byteLevel)
    {
        if (!digits.TryGetProperty("individual_digits", out JsonElement individual) || individual.ValueKind != JsonValueKind.True)
            throw Invalid("pre_tokenizer Digits with individual_digits false is not supported");
        if (byteLevel.TryGetProperty("use_regex", out JsonElement useRegex) && useRegex.ValueKind == JsonValueKind.False)
            throw Invalid("pre_tokenizer ByteLevel after Digits with use_regex false is not supported");
        if (AddPrefixSpace(byteLevel))
            throw Invalid("pre_tokenizer ByteLevel after Digits with add_prefix_space true is not supported (it would put a space before every digit)");
        return new PreTokenization(Gpt2Pattern, AddPrefixSpace: false, IsolateDigits: true);
    }

    private static bool AddPrefixSpace(JsonElement byteLevel) =>
        byteLevel.TryGetProperty("add_prefix_space", out JsonElement value) && value.ValueKind == JsonValueKind.True;

    private static void CheckDecoder(JsonElement root)
    {
        if (!root.TryGetProperty("decoder", out JsonElement decoder) || decoder.ValueKind == JsonValueKind.Null)
            return;
        string type = TypeOf(decoder);
        if (type != "ByteLevel")
            throw Invalid($"decoder '{type}' is not supported: only ByteLevel");
    }

    // The token the post-processor's template puts before the text (Llama 3's <|begin_of_text|>), or null.
    private static string? ReadPostProcessor(JsonElement root)
    {
        if (!root.TryGetProperty("post_processor", out JsonElement post) || post.ValueKind == JsonValueKind.Null)
            return null;
        string? first = null;
        IEnumerable<JsonElement> steps = TypeOf(post) == "Sequence" ? Required(post, "processors", JsonValueKind.Array, "post_processor.").EnumerateArray() : [post];
        foreach (JsonElement step in steps)
        {
            string type = TypeOf(step);
            if (type == "ByteLevel")
                continue;
            if (type != "TemplateProcessing")
                throw Invalid($"post_processor '{type}' is not supported: only ByteLevel and TemplateProcessing");
            JsonElement single = Required(step, "single", JsonValueKind.Array, "post_processor.");
            var items = single.EnumerateArray().ToList();
            int sequence = items.FindIndex(item => item.TryGetProperty("Sequence", out _));
            if (sequence < 0 || sequence > 1 || sequence != items.Count - 1)
                throw Invalid("post_processor TemplateProcessing 'single' must be the text, optionally after one special token: tokens after the text are not supported");
            if (sequence == 1)
            {
                if (!items[0].TryGetProperty("SpecialToken", out JsonElement special) || !special.TryGetProperty("id", out JsonElement id) || id.ValueKind != JsonValueKind.String)
                    throw Invalid("post_processor TemplateProcessing 'single' must start with a SpecialToken");
                first = id.GetString();
            }
        }
        return first;
    }

    private static byte[]? FromByteLevel(string token, int[] unicodeToByte)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            if (c >= unicodeToByte.Length || unicodeToByte[c] < 0)
                return null;
            bytes[i] = (byte)unicodeToByte[c];
        }
        return bytes;
    }

    private static string TypeOf(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : "(no type)";

    private static JsonElement Required(JsonElement parent, string name, JsonValueKind kind, string prefix = "")
    {
        if (!parent.TryGetProperty(name, out JsonElement value) || value.ValueKind != kind)
            throw Invalid($"{prefix}{name} is missing or is not a JSON {kind.ToString().ToLowerInvariant()}");
        return value;
    }

    private static InvalidDataException Invalid(string problem) => new($"tokenizer.json: {problem}.");
}
