using System.Security.Cryptography;
using System.Text.Json;
using Gpt2.Torch.Tokenization;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>
/// A tokenizer that is not built in (a Hugging Face <c>tokenizer.json</c> and its companion files) as the text a model zip
/// carries. ML.NET keeps its model-saving API internal to its own assemblies, so the zip carries the files as the one value
/// of an ML.NET value mapping (a public, persistable transformer) that puts them in the <see cref="ColumnName"/> column of
/// every row; the tokenizing and detokenizing steps read the tokenizer from that column, build it once and reuse it while
/// the column holds the same text.
/// </summary>
internal static class SavedTokenizer
{
    /// <summary>The column that holds the packed tokenizer files.</summary>
    public const string ColumnName = "Gpt2.Tokenizer";

    /// <summary>The constant column whose value the value mapping maps to the packed files.</summary>
    public const string SlotColumnName = "Gpt2.TokenizerSlot";

    private const string Format = "Gpt2MLNet.HuggingFaceTokenizer.v1";
    private const string TokenizerFile = "tokenizer.json";
    private const string ConfigFile = "tokenizer_config.json";
    private const string GenerationConfigFile = "generation_config.json";
    private const string ChatTemplateFile = "chat_template.jinja";

    /// <summary>Whether a zip can carry <paramref name="tokenizer"/> this way.</summary>
    public static bool CanCarry(LanguageModelTokenizer tokenizer) => tokenizer is HuggingFaceTokenizer;

    /// <summary>
    /// The steps that put <paramref name="tokenizer"/>'s packed files in <see cref="ColumnName"/>, computed from
    /// <paramref name="anyInputColumnName"/> (any column present; only its presence matters).
    /// </summary>
    public static IEstimator<ITransformer> Column(MLContext mlContext, LanguageModelTokenizer tokenizer, string anyInputColumnName)
    {
        var huggingFace = tokenizer as HuggingFaceTokenizer ?? throw new NotSupportedException(
            $"A model zip carries a Hugging Face tokenizer (tokenizer.json) or GPT-2's built-in one, not a {tokenizer.GetType().Name}.");
        return mlContext.Transforms.Expression(SlotColumnName, "text => 0", anyInputColumnName)
            .Append(mlContext.Transforms.Conversion.MapValue(ColumnName, [new KeyValuePair<int, string>(0, Pack(huggingFace.Files))], SlotColumnName));
    }

    /// <summary>The files as text: each file's bytes in base64 beside its SHA-256, so that damage is found before use.</summary>
    public static string Pack(HuggingFaceTokenizerFiles files)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("format", Format);
            WriteFile(writer, TokenizerFile, files.TokenizerJson);
            WriteFile(writer, ConfigFile, files.TokenizerConfigJson);
            WriteFile(writer, GenerationConfigFile, files.GenerationConfigJson);
            WriteFile(writer, ChatTemplateFile, files.ChatTemplate is null ? null : System.Text.Encoding.UTF8.GetBytes(files.ChatTemplate));
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>Reads the tokenizer back from <see cref="Pack"/>'s text.</summary>
    /// <exception cref="InvalidDataException">The text is not a whole, undamaged packed tokenizer; the message says what is wrong.</exception>
    public static HuggingFaceTokenizer Unpack(ReadOnlySpan<char> packed)
    {
        HuggingFaceTokenizerFiles files;
        try
        {
            using JsonDocument document = JsonDocument.Parse(packed.ToString());
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out JsonElement format) || format.ValueKind != JsonValueKind.String
                || format.GetString() != Format)
                throw Corrupt($"it is not a packed tokenizer of format {Format}");
            byte[]? template = ReadFile(root, ChatTemplateFile);
            files = new HuggingFaceTokenizerFiles(ReadFile(root, TokenizerFile) ?? throw Corrupt($"{TokenizerFile} is missing"),
                ReadFile(root, ConfigFile), ReadFile(root, GenerationConfigFile), template is null ? null : System.Text.Encoding.UTF8.GetString(template));
        }
        catch (JsonException e)
        {
            throw Corrupt($"its text is not well-formed JSON ({e.Message})", e);
        }
        try
        {
            return HuggingFaceTokenizer.Load(files);
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or ArgumentException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw Corrupt($"its files do not make a tokenizer ({e.Message})", e);
        }
    }

    /// <summary>
    /// A reader of <see cref="ColumnName"/> for one mapping: the tokenizer of the last text seen, rebuilt only when the text
    /// changes (the value mapping hands every row the same memory, so the check is a reference comparison).
    /// </summary>
    public sealed class Reader
    {
        private sealed record Entry(ReadOnlyMemory<char> Packed, HuggingFaceTokenizer Tokenizer);

        private Entry? _last;

        public HuggingFaceTokenizer Tokenizer(ReadOnlyMemory<char> packed)
        {
            Entry? last = Volatile.Read(ref _last);
            if (last is not null && (last.Packed.Equals(packed) || last.Packed.Span.SequenceEqual(packed.Span)))
                return last.Tokenizer;
            if (packed.IsEmpty)
                throw Corrupt($"the column '{ColumnName}' is empty");
            var entry = new Entry(packed, Unpack(packed.Span));
            Volatile.Write(ref _last, entry);
            return entry.Tokenizer;
        }
    }

    private static void WriteFile(Utf8JsonWriter writer, string name, byte[]? bytes)
    {
        if (bytes is null)
            return;
        writer.WriteStartObject(name);
        writer.WriteString("sha256", Convert.ToHexString(SHA256.HashData(bytes)));
        writer.WriteBase64String("bytes", bytes);
        writer.WriteEndObject();
    }

    private static byte[]? ReadFile(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out JsonElement file))
            return null;
        if (file.ValueKind != JsonValueKind.Object || !file.TryGetProperty("sha256", out JsonElement sha) || !file.TryGetProperty("bytes", out JsonElement content)
            || sha.ValueKind != JsonValueKind.String || content.ValueKind != JsonValueKind.String || !content.TryGetBytesFromBase64(out byte[]? bytes))
            throw Corrupt($"its entry for {name} is malformed");
        if (!string.Equals(sha.GetString(), Convert.ToHexString(SHA256.HashData(bytes)), StringComparison.OrdinalIgnoreCase))
            throw Corrupt($"{name} does not match its SHA-256");
        return bytes;
    }

    private static InvalidDataException Corrupt(string what, Exception? inner = null) => new(
        $"The tokenizer this model zip carries is damaged: {what}. The zip cannot tokenize text as its model was trained; " +
        "save the zip again from the fitted model (or its checkpoint folder with tokenizer.json).", inner);
}
