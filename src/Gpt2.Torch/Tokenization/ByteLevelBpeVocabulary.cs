using System.Text;
using System.Text.Json;
using Gpt2.Torch.IO;
using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Tokenization;

/// <summary>
/// A byte-level BPE vocabulary in GPT-2's layout: ids 0 to 255 are the bytes (written in GPT-2's byte-to-unicode
/// alphabet), then one token per merge in merge order, then the special tokens. Saved as Hugging Face's
/// <c>vocab.json</c> and <c>merges.txt</c>, which load into Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>.
/// </summary>
public sealed class ByteLevelBpeVocabulary
{
    private const string VocabFile = "vocab.json";
    private const string MergesFile = "merges.txt";

    internal ByteLevelBpeVocabulary(IReadOnlyList<string> tokens, IReadOnlyList<(string Left, string Right)> merges, IReadOnlyList<string> specialTokens)
    {
        Tokens = [.. tokens, .. specialTokens];
        Merges = merges;
        SpecialTokens = specialTokens;
    }

    /// <summary>Every token by id, in the byte-level alphabet (special tokens as they are written).</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>The merges in the order they were learned (and are applied).</summary>
    public IReadOnlyList<(string Left, string Right)> Merges { get; }

    /// <summary>The special tokens, which have the last ids.</summary>
    public IReadOnlyList<string> SpecialTokens { get; }

    /// <summary>Number of tokens.</summary>
    public int Count => Tokens.Count;

    /// <summary>Writes <c>vocab.json</c> and <c>merges.txt</c> into <paramref name="folder"/>, each atomically.</summary>
    public void Save(string folder)
    {
        AtomicFile.Write(Path.Combine(folder, VocabFile), stream =>
        {
            using var json = new Utf8JsonWriter(stream);
            json.WriteStartObject();
            for (int id = 0; id < Tokens.Count; id++)
                json.WriteNumber(Tokens[id], id);
            json.WriteEndObject();
        });
        var merges = new StringBuilder("#version: 0.2\n");
        foreach ((string left, string right) in Merges)
            merges.Append(left).Append(' ').Append(right).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(folder, MergesFile), merges.ToString());
    }

    /// <summary>
    /// Reads <c>vocab.json</c> and <c>merges.txt</c> from <paramref name="folder"/> (ours, or GPT-2's own). Tokens that are
    /// neither a byte nor the result of a merge are the special tokens.
    /// </summary>
    public static ByteLevelBpeVocabulary Load(string folder)
    {
        string vocabPath = Path.Combine(folder, VocabFile), mergesPath = Path.Combine(folder, MergesFile);
        if (!File.Exists(vocabPath) || !File.Exists(mergesPath))
            throw new FileNotFoundException($"A byte-level BPE vocabulary needs {VocabFile} and {MergesFile} in {folder}.");
        Dictionary<string, int> ids = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath))
            ?? throw new InvalidDataException($"{vocabPath} must hold a JSON object of token -> id.");
        string[] tokens = [.. ids.OrderBy(entry => entry.Value).Select(entry => entry.Key)];
        if (ids.Values.Order().Where((id, index) => id != index).Any())
            throw new InvalidDataException($"The ids of {vocabPath} must run from 0 to {ids.Count - 1} without gaps.");
        if (!tokens.Take(256).SequenceEqual(ByteLevelAlphabet.ByteTokens))
            throw new InvalidDataException($"Ids 0 to 255 of {vocabPath} must be the 256 bytes in GPT-2's byte-level alphabet and order.");

        var merges = new List<(string Left, string Right)>();
        foreach (string line in File.ReadLines(mergesPath))
        {
            if (line.Length == 0 || line.StartsWith("#version", StringComparison.Ordinal))
                continue;
            string[] parts = line.Split(' ');
            if (parts.Length != 2 || !ids.ContainsKey(parts[0]) || !ids.ContainsKey(parts[1]) || !ids.ContainsKey(parts[0] + parts[1]))
                throw new InvalidDataException($"{mergesPath}: '{line}' is not a merge of two tokens of {VocabFile} into a third.");
            merges.Add((parts[0], parts[1]));
        }
        var learned = new HashSet<string>(merges.Select(merge => merge.Left + merge.Right).Concat(ByteLevelAlphabet.ByteTokens), StringComparer.Ordinal);
        int learnedCount = tokens.TakeWhile(learned.Contains).Count();
        if (tokens.Skip(learnedCount).Any(learned.Contains))
            throw new InvalidDataException($"The special tokens of {vocabPath} (those no merge makes) must have the last ids.");
        return new ByteLevelBpeVocabulary(tokens[..learnedCount], merges, tokens[learnedCount..]);
    }

    /// <summary>
    /// A Microsoft.ML.Tokenizers tokenizer for this vocabulary: GPT-2's pre-tokenization, byte-level BPE with the merges in
    /// order, and the special tokens recognised in the text.
    /// </summary>
    public Tokenizer CreateTokenizer()
    {
        int firstSpecial = Tokens.Count - SpecialTokens.Count;
        Dictionary<string, int> special = SpecialTokens.Select((token, i) => (token, id: firstSpecial + i)).ToDictionary(entry => entry.token, entry => entry.id);
        return BpeTokenizer.Create(new BpeOptions(Tokens.Select((token, id) => KeyValuePair.Create(token, id)))
        {
            Merges = [.. Merges.Select(merge => $"{merge.Left} {merge.Right}")],
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(Gpt2Tokenizer.PreTokenizationPattern(), special),
            SpecialTokens = special,
        });
    }
}
