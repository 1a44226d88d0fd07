using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Tokenization;

/// <summary>
/// A byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> and its <c>tokenizer_config.json</c>
/// (Llama 3, SmolLM2, Qwen2.5, Qwen3), giving the ids Hugging Face tokenizers gives.
/// </summary>
/// <remarks>
/// <para>
/// Text is cut at added tokens first; each stretch between them is normalized (NFC for Qwen), cut into pieces by the
/// pre-tokenizer's regular expression and byte-level BPE-encoded by Microsoft.ML.Tokenizers: with
/// <c>ignore_merges</c> (Llama 3) by <see cref="TiktokenTokenizer"/>, each token's id as its rank, which keeps a piece that is
/// itself a token whole and merges in the merges' order (their tokens' ids increase with it, checked at load); without it
/// (Qwen, SmolLM2) by <see cref="BpeTokenizer"/> with the merges, Hugging Face's algorithm.
/// </para>
/// <para>
/// Special added tokens (<c>&lt;|im_end|&gt;</c>, <c>&lt;|eot_id|&gt;</c>) are recognised in text only when the caller allows
/// it, so untrusted text cannot inject them; non-special added tokens (Qwen's <c>&lt;think&gt;</c>, <c>&lt;tool_call&gt;</c>)
/// are always recognised, as Hugging Face does. <see cref="Decode"/> gives the text back as it was encoded (normalized),
/// without Hugging Face's optional <c>clean_up_tokenization_spaces</c>.
/// </para>
/// <para>
/// <see cref="EndOfTurnIds"/> are the ids of <c>generation_config.json</c>'s <c>eos_token_id</c> (when the folder has one)
/// and, of the end tokens the families use (<c>&lt;|im_end|&gt;</c>, <c>&lt;|endoftext|&gt;</c>, <c>&lt;|eot_id|&gt;</c>,
/// <c>&lt;|eom_id|&gt;</c>, <c>&lt;|end_of_text|&gt;</c>), those that are added tokens, less <see cref="EndOfTextId"/>.
/// </para>
/// </remarks>
public sealed class HuggingFaceTokenizer : LanguageModelTokenizer
{
    /// <summary>The tokenizer's file name in a Hugging Face model folder.</summary>
    public const string TokenizerFileName = "tokenizer.json";

    private const string ConfigFile = "tokenizer_config.json";
    private const string GenerationConfigFile = "generation_config.json";
    private const string ChatTemplateFile = "chat_template.jinja";

    private static readonly string[] EndOfTurnTokens = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"];

    private readonly Tokenizer _bytePairs;                // the text between added tokens, already normalized
    private readonly AddedTokenSplitter _allAdded;        // special and non-special added tokens
    private readonly AddedTokenSplitter _nonSpecialAdded; // non-special added tokens only
    private readonly NormalizationForm? _normalization;
    private readonly bool _addPrefixSpace;
    private readonly byte[][] _tokenBytes;                // by id; empty for ids nothing uses
    private readonly int[] _specialIds;                   // the special added tokens
    private readonly Lazy<Tokenizer> _tokenizer;

    private HuggingFaceTokenizer(TokenizerJson file, TokenizerConfigJson config, IReadOnlyList<int> generationEndIds, string? chatTemplate, HuggingFaceTokenizerFiles files)
    {
        Files = files;
        List<AddedToken> added = MergeAddedTokens(file.AddedTokens, config.AddedTokens);
        int size = Math.Max(file.TokenBytes.Length, added.Count == 0 ? 0 : added.Max(t => t.Id) + 1);
        _tokenBytes = new byte[size][];
        Array.Fill(_tokenBytes, []);
        file.TokenBytes.CopyTo(_tokenBytes, 0);
        foreach (AddedToken token in added)
            _tokenBytes[token.Id] = Encoding.UTF8.GetBytes(token.Content);
        bool[] isModelToken = file.IsModelToken;

        _allAdded = new AddedTokenSplitter(added);
        _specialIds = [.. added.Where(t => t.Special).Select(t => t.Id)];
        _nonSpecialAdded = new AddedTokenSplitter(added.Where(t => !t.Special));
        _normalization = file.Normalization;
        _addPrefixSpace = file.PreTokenization.AddPrefixSpace;
        var pattern = new Regex(file.PreTokenization.Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        bool isolateDigits = file.PreTokenization.IsolateDigits;
        Tokenizer CreateBytePairs(Normalizer? normalizer, AddedTokenSplitter? addedTokens) => file.Merges is null
            ? CreateTiktoken(isModelToken, pattern, isolateDigits, normalizer, addedTokens)
            : BpeTokenizer.Create(new BpeOptions(file.Vocab)
            {
                Merges = file.Merges,
                ByteLevel = true,
                PreTokenizer = new CodePointPreTokenizer(pattern, addedTokens, isolateDigits),
                Normalizer = normalizer,
                SpecialTokens = addedTokens?.Ids,
            });
        _bytePairs = CreateBytePairs(normalizer: null, addedTokens: null);
        _tokenizer = new(() => CreateBytePairs(_normalization is { } form ? new UnicodeNormalizer(form) : null, _allAdded));

        VocabSize = size;
        EndOfTextId = IdOf(config.EndOfText ?? EndOfTurnTokens.FirstOrDefault(_allAdded.Ids.ContainsKey)
            ?? throw new InvalidDataException($"{ConfigFile} must name eos_token: tokenizer.json has none of the usual end-of-text tokens."), "eos_token");
        EndOfText = Encoding.UTF8.GetString(_tokenBytes[EndOfTextId]);
        BeginningOfTextId = file.BeginningOfText is null ? null : IdOf(file.BeginningOfText, "post_processor's first token");
        PaddingId = config.Padding is null ? EndOfTextId : IdOf(config.Padding, "pad_token");
        foreach (int id in generationEndIds)
        {
            if (id < 0 || id >= VocabSize)
                throw new InvalidDataException($"{GenerationConfigFile}: eos_token_id {id} is outside the vocabulary [0, {VocabSize}).");
        }
        EndOfTurnIds = [.. generationEndIds
            .Concat(EndOfTurnTokens.Where(_allAdded.Ids.ContainsKey).Select(token => _allAdded.Ids[token]))
            .Where(id => id != EndOfTextId).Distinct().Order()];
        ChatTemplate = chatTemplate ?? config.ChatTemplate;
    }

    /// <summary>
    /// Reads <c>tokenizer.json</c> and, when present, <c>tokenizer_config.json</c>, <c>generation_config.json</c> (its
    /// <c>eos_token_id</c> joins <see cref="EndOfTurnIds"/>) and <c>chat_template.jinja</c> (the chat template, in place of
    /// <c>tokenizer_config.json</c>'s, as transformers reads it) from <paramref name="folder"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder has no <c>tokenizer.json</c>.</exception>
    /// <exception cref="InvalidDataException">A file holds what is not implemented (named in the message) or is malformed.</exception>
    public static HuggingFaceTokenizer Load(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string tokenizerPath = Path.Combine(folder, TokenizerFileName);
        if (!File.Exists(tokenizerPath))
            throw new FileNotFoundException($"A Hugging Face tokenizer needs {TokenizerFileName} in {folder}.", tokenizerPath);
        using Stream tokenizerJson = File.OpenRead(tokenizerPath);
        using Stream? config = OpenIfExists(Path.Combine(folder, ConfigFile));
        using Stream? generation = OpenIfExists(Path.Combine(folder, GenerationConfigFile));
        string templatePath = Path.Combine(folder, ChatTemplateFile);
        string? template = File.Exists(templatePath) ? File.ReadAllText(templatePath) : null;
        return Create(tokenizerJson, config, generation, template);
    }

    /// <summary>Reads the contents of <c>tokenizer.json</c> and, when given, <c>tokenizer_config.json</c> and <c>generation_config.json</c>.</summary>
    /// <exception cref="InvalidDataException">A file holds what is not implemented (named in the message) or is malformed.</exception>
    public static HuggingFaceTokenizer Load(Stream tokenizerJson, Stream? tokenizerConfigJson, Stream? generationConfigJson = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJson);
        return Create(tokenizerJson, tokenizerConfigJson, generationConfigJson, chatTemplate: null);
    }

    private static HuggingFaceTokenizer Create(Stream tokenizerJson, Stream? config, Stream? generation, string? chatTemplate) =>
        Load(new HuggingFaceTokenizerFiles(ReadAll(tokenizerJson), config is null ? null : ReadAll(config), generation is null ? null : ReadAll(generation), chatTemplate));

    /// <summary>Reads a tokenizer from the contents of its files, as a model zip carries them (<see cref="Files"/>).</summary>
    /// <exception cref="InvalidDataException">A file holds what is not implemented (named in the message) or is malformed.</exception>
    internal static HuggingFaceTokenizer Load(HuggingFaceTokenizerFiles files) => new(
        TokenizerJson.Read(new MemoryStream(files.TokenizerJson, writable: false)),
        files.TokenizerConfigJson is null ? TokenizerConfigJson.Empty : TokenizerConfigJson.Read(new MemoryStream(files.TokenizerConfigJson, writable: false)),
        files.GenerationConfigJson is null ? [] : TokenizerConfigJson.ReadGenerationEndIds(new MemoryStream(files.GenerationConfigJson, writable: false)),
        files.ChatTemplate,
        files);

    private static byte[] ReadAll(Stream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>The files this tokenizer was read from, kept so that a model zip can carry them and read the same tokenizer back.</summary>
    internal HuggingFaceTokenizerFiles Files { get; }

    private static FileStream? OpenIfExists(string path) => File.Exists(path) ? File.OpenRead(path) : null;

    /// <summary>Number of token ids: the model's vocabulary and the added tokens.</summary>
    public override int VocabSize { get; }

    /// <summary>Microsoft.ML.Tokenizers' tokenizer with every added token recognised and the normalizer applied to the whole text.</summary>
    /// <remarks>It normalizes the text as a whole rather than between added tokens and does not add ByteLevel's prefix space; <see cref="Encode"/> does both as Hugging Face does.</remarks>
    public override Tokenizer Tokenizer => _tokenizer.Value;

    /// <summary>The id of <c>eos_token</c>.</summary>
    public override int EndOfTextId { get; }

    /// <summary>The text of <c>eos_token</c>.</summary>
    public override string EndOfText { get; }

    /// <summary>The token the post-processor's template puts first (Llama 3.1/3.2's <c>&lt;|begin_of_text|&gt;</c>), or null.</summary>
    public override int? BeginningOfTextId { get; }

    /// <summary>The id of <c>pad_token</c>, or <see cref="EndOfTextId"/> when there is none.</summary>
    public override int PaddingId { get; }

    /// <inheritdoc />
    public override IReadOnlyList<int> EndOfTurnIds { get; }

    /// <inheritdoc />
    internal override IReadOnlyCollection<int> SpecialTokenIds => [.. _specialIds, EndOfTextId, .. EndOfTurnIds];

    /// <summary><c>chat_template.jinja</c>, or else <c>chat_template</c> of <c>tokenizer_config.json</c> (its "default" where it lists several).</summary>
    public override string? ChatTemplate { get; }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The text holds an unpaired surrogate, which cannot be normalized.</exception>
    public override int[] Encode(string text, bool allowSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 1);
        foreach ((int start, int length, int? id) in (allowSpecialTokens ? _allAdded : _nonSpecialAdded).Split(text))
        {
            if (id is int addedId)
            {
                ids.Add(addedId);
                continue;
            }
            string stretch = text.Substring(start, length);
            if (_normalization is { } form)
                stretch = Normalize(stretch, form);
            if (_addPrefixSpace && !stretch.StartsWith(' '))
                stretch = " " + stretch;
            ids.AddRange(_bytePairs.EncodeToIds(stretch, considerPreTokenization: true, considerNormalization: false));
        }
        return [.. ids];
    }

    /// <inheritdoc />
    public override ReadOnlySpan<byte> TokenBytes(int id)
    {
        if (id < 0 || id >= _tokenBytes.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary [0, {VocabSize}).");
        return _tokenBytes[id];
    }

    /// <inheritdoc />
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new ArrayBufferWriter<byte>();
        foreach (int id in ids)
        {
            if (id < 0 || id >= _tokenBytes.Length)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the vocabulary [0, {VocabSize}).");
            bytes.Write(_tokenBytes[id]);
        }
        return Encoding.UTF8.GetString(bytes.WrittenSpan);
    }

    private static string Normalize(string text, NormalizationForm form)
    {
        try
        {
            return text.Normalize(form);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"The text cannot be {form}-normalized as this tokenizer requires: {e.Message} Replace unpaired surrogates first.", "text", e);
        }
    }

    private int IdOf(string token, string field) =>
        _allAdded.Ids.TryGetValue(token, out int id)
            ? id
            : throw new InvalidDataException($"{field} '{token}' is not an added token of {TokenizerFileName}.");

    // tokenizer_config.json's added_tokens_decoder normally repeats tokenizer.json's added_tokens; tokens only it has are added.
    private static List<AddedToken> MergeAddedTokens(List<AddedToken> fromTokenizer, IReadOnlyList<AddedToken> fromConfig)
    {
        var merged = new List<AddedToken>(fromTokenizer);
        var byId = fromTokenizer.ToDictionary(t => t.Id);
        var byContent = fromTokenizer.ToDictionary(t => t.Content, StringComparer.Ordinal);
        foreach (AddedToken token in fromConfig)
        {
            if (byId.TryGetValue(token.Id, out AddedToken? known))
            {
                if (known.Content != token.Content)
                    throw new InvalidDataException($"{ConfigFile}: added_tokens_decoder gives id {token.Id} to '{token.Content}', but {TokenizerFileName} gives it to '{known.Content}'.");
                continue;
            }
            if (byContent.ContainsKey(token.Content))
                throw new InvalidDataException($"{ConfigFile}: added_tokens_decoder gives '{token.Content}' id {token.Id}, but {TokenizerFileName} gives it id {byContent[token.Content].Id}.");
            merged.Add(token);
            byId[token.Id] = token;
            byContent[token.Content] = token;
        }
        return merged;
    }

    // tiktoken's rank file (base64 of each token's bytes, then its rank) with the model tokens' ids as ranks.
    private TiktokenTokenizer CreateTiktoken(bool[] isModelToken, Regex pattern, bool isolateDigits, Normalizer? normalizer, AddedTokenSplitter? addedTokens)
    {
        var ranks = new ArrayBufferWriter<byte>(isModelToken.Length * 16);
        for (int id = 0; id < isModelToken.Length; id++)
        {
            if (!isModelToken[id])
                continue;
            byte[] bytes = _tokenBytes[id];
            Span<byte> line = ranks.GetSpan(Base64.GetMaxEncodedToUtf8Length(bytes.Length) + 13);
            Base64.EncodeToUtf8(bytes, line, out _, out int written);
            line[written++] = (byte)' ';
            id.TryFormat(line[written..], out int digits, provider: CultureInfo.InvariantCulture);
            written += digits;
            line[written++] = (byte)'\n';
            ranks.Advance(written);
        }
        using var stream = new MemoryStream(ranks.WrittenSpan.ToArray(), writable: false);
        return TiktokenTokenizer.Create(stream, new CodePointPreTokenizer(pattern, addedTokens, isolateDigits), normalizer, addedTokens?.Ids);
    }
}
