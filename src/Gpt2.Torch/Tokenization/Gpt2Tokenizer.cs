using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Tokenization;

/// <summary>
/// GPT-2's byte-level BPE tokenizer, identical to OpenAI's (tiktoken's <c>r50k_base</c>).
/// Built on Microsoft.ML.Tokenizers' <see cref="TiktokenTokenizer"/> from GPT-2's <c>encoder.json</c>,
/// which is embedded in this assembly.
/// </summary>
/// <remarks>
/// <c>&lt;|endoftext|&gt;</c> becomes token 50256 only when the caller allows special tokens (tiktoken's
/// <c>allowed_special</c>); otherwise it is ordinary text, so untrusted text can never inject the token.
/// </remarks>
public sealed partial class Gpt2Tokenizer : LanguageModelTokenizer
{
    /// <summary>GPT-2's end-of-text token, <c>&lt;|endoftext|&gt;</c>.</summary>
    public const string EndOfTextToken = "<|endoftext|>";

    /// <summary>The id of <see cref="EndOfTextToken"/>, 50256.</summary>
    public const int EndOfTextTokenId = 50256;

    private static readonly Lazy<Gpt2Tokenizer> DefaultInstance = new(() =>
    {
        using Stream encoder = OpenResource("encoder.json");
        return FromEncoderJson(encoder);
    });

    private readonly TiktokenTokenizer _withSpecialTokens;
    private readonly TiktokenTokenizer _withoutSpecialTokens;
    private readonly byte[][] _tokenBytes;   // by id; empty for ids the vocabulary skips

    private Gpt2Tokenizer(TiktokenTokenizer withSpecialTokens, TiktokenTokenizer withoutSpecialTokens, int vocabSize, byte[][] tokenBytes)
    {
        _withSpecialTokens = withSpecialTokens;
        _withoutSpecialTokens = withoutSpecialTokens;
        VocabSize = vocabSize;
        _tokenBytes = tokenBytes;
    }

    /// <summary>GPT-2's tokenizer from the embedded vocabulary.</summary>
    public static Gpt2Tokenizer Default => DefaultInstance.Value;

    /// <summary>Number of token ids, special tokens included (50257).</summary>
    public override int VocabSize { get; }

    /// <inheritdoc />
    public override Tokenizer Tokenizer => _withSpecialTokens;

    /// <summary>50256, <c>&lt;|endoftext|&gt;</c>.</summary>
    public override int EndOfTextId => EndOfTextTokenId;

    /// <summary><c>&lt;|endoftext|&gt;</c>.</summary>
    public override string EndOfText => EndOfTextToken;

    // GPT-2's pre-tokenization pattern (openai/gpt-2 encoder.py, tiktoken r50k_base).
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    internal static partial Regex PreTokenizationPattern();

    /// <summary>Builds the tokenizer from a GPT-2 <c>encoder.json</c> (Hugging Face's <c>vocab.json</c>).</summary>
    public static Gpt2Tokenizer FromEncoderJson(Stream encoderJson)
    {
        Dictionary<string, int> encoder = JsonSerializer.Deserialize<Dictionary<string, int>>(encoderJson)
            ?? throw new InvalidDataException("encoder.json must hold a JSON object of token -> id.");
        if (!encoder.TryGetValue(EndOfTextToken, out int endOfText) || endOfText != EndOfTextTokenId)
            throw new InvalidDataException($"encoder.json must map {EndOfTextToken} to {EndOfTextTokenId}.");

        // tiktoken's rank file: base64(token bytes) and rank per line; GPT-2's ranks are its ids.
        int[] unicodeToByte = ByteLevelAlphabet.UnicodeToByte;
        var ranks = new StringBuilder();
        var tokenBytes = new byte[encoder.Values.Max() + 1][];
        Array.Fill(tokenBytes, []);
        tokenBytes[EndOfTextTokenId] = Encoding.UTF8.GetBytes(EndOfTextToken);
        foreach ((string token, int id) in encoder.OrderBy(pair => pair.Value))
        {
            if (token == EndOfTextToken)
                continue;
            var bytes = new byte[token.Length];
            for (int i = 0; i < token.Length; i++)
            {
                char c = token[i];
                if (c >= unicodeToByte.Length || unicodeToByte[c] < 0)
                    throw new InvalidDataException($"encoder.json token '{token}' (id {id}) is not in GPT-2's byte-level alphabet.");
                bytes[i] = (byte)unicodeToByte[c];
            }
            tokenBytes[id] = bytes;
            ranks.Append(Convert.ToBase64String(bytes)).Append(' ').Append(id).Append('\n');
        }
        byte[] rankFile = Encoding.UTF8.GetBytes(ranks.ToString());

        var special = new Dictionary<string, int> { [EndOfTextToken] = EndOfTextTokenId };
        TiktokenTokenizer Create(IReadOnlyDictionary<string, int>? specialTokens) => TiktokenTokenizer.Create(
            new MemoryStream(rankFile, writable: false),
            new RegexPreTokenizer(PreTokenizationPattern(), specialTokens),
            normalizer: null,
            specialTokens);

        return new Gpt2Tokenizer(Create(special), Create(null), encoder.Count, tokenBytes);
    }

    /// <summary>
    /// Writes GPT-2's tokenizer files under their Hugging Face names (<c>vocab.json</c>, <c>merges.txt</c>),
    /// so a checkpoint folder we save also loads in Hugging Face transformers.
    /// </summary>
    public static void WriteHuggingFaceFiles(string folder)
    {
        foreach ((string resource, string fileName) in new[] { ("encoder.json", "vocab.json"), ("vocab.bpe", "merges.txt") })
        {
            using Stream source = OpenResource(resource);
            IO.AtomicFile.Write(Path.Combine(folder, fileName), source.CopyTo);
        }
    }

    /// <summary>Opens one of GPT-2's embedded tokenizer files (<c>encoder.json</c> or <c>vocab.bpe</c>).</summary>
    internal static Stream OpenResource(string name) =>
        typeof(Gpt2Tokenizer).Assembly.GetManifestResourceStream($"Gpt2.Torch.{name}")
        ?? throw new InvalidOperationException($"The embedded GPT-2 {name} is missing from Gpt2.Torch.");

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    /// <param name="text">Any string; an empty string gives no tokens.</param>
    /// <param name="allowSpecialTokens">Whether <c>&lt;|endoftext|&gt;</c> in the text becomes token 50256.</param>
    public override int[] Encode(string text, bool allowSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        TiktokenTokenizer tokenizer = allowSpecialTokens ? _withSpecialTokens : _withoutSpecialTokens;
        return [.. tokenizer.EncodeToIds(text)];
    }

    /// <summary>
    /// The bytes of one token: a byte-level token may hold part of a UTF-8 character (GPT-2 splits emoji and CJK characters
    /// across tokens), so text decoded token by token must gather bytes until they form whole characters; special tokens
    /// give their text's UTF-8 bytes.
    /// </summary>
    public override ReadOnlySpan<byte> TokenBytes(int id)
    {
        if (id < 0 || id >= _tokenBytes.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside GPT-2's vocabulary [0, {VocabSize}).");
        return _tokenBytes[id];
    }

    /// <summary>The text of <paramref name="ids"/>; bytes that do not form valid UTF-8 become U+FFFD.</summary>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyList<int> ?? [.. ids];
        foreach (int id in list)
        {
            if (id < 0 || id >= VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside GPT-2's vocabulary [0, {VocabSize}).");
        }
        return _withSpecialTokens.Decode(list);
    }
}
