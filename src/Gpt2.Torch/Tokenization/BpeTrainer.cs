using System.Text;
using System.Text.RegularExpressions;

namespace Gpt2.Torch.Tokenization;

/// <summary>
/// Learns a byte-level BPE vocabulary from text, as GPT-2's was learned: the text is cut into words with GPT-2's
/// pre-tokenization regex, every word starts as its UTF-8 bytes, and the most frequent adjacent pair of tokens is
/// merged into a new token, again and again, until the vocabulary has the requested size.
/// </summary>
/// <remarks>
/// Word frequencies are counted once and pair counts are updated incrementally: a merge revisits only the words that
/// hold the merged pair. Ties go to the pair whose ids are smallest (first token, then second), so training is
/// deterministic. A pair whose merged bytes already form a token is never merged, so each token comes from one merge.
/// </remarks>
public static class BpeTrainer
{
    /// <summary>Trains a vocabulary of <paramref name="vocabSize"/> tokens (fewer if the text runs out of pairs to merge).</summary>
    /// <param name="texts">The training corpus, one or more documents.</param>
    /// <param name="vocabSize">Tokens wanted: the 256 bytes, the merges, and the special tokens.</param>
    /// <param name="specialTokens">Tokens such as <c>&lt;|endoftext|&gt;</c>, given the last ids; where they occur in the text they are not learned from.</param>
    public static ByteLevelBpeVocabulary Train(IEnumerable<string> texts, int vocabSize, IReadOnlyList<string>? specialTokens = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        specialTokens ??= [];
        if (specialTokens.Any(string.IsNullOrEmpty) || specialTokens.Distinct().Count() != specialTokens.Count)
            throw new ArgumentException("Special tokens must be distinct and non-empty.", nameof(specialTokens));
        OptionChecks.AtLeast(vocabSize, 256 + specialTokens.Count, nameof(vocabSize),
            $"{256 + specialTokens.Count + 1000}: a byte-level vocabulary holds the 256 bytes and the {specialTokens.Count} special tokens, then the merges");

        var pairs = new PairCounts(CountWords(texts, specialTokens));
        var tokens = new List<string>(ByteLevelAlphabet.ByteTokens);
        var ids = tokens.Select((token, id) => (token, id)).ToDictionary(entry => entry.token, entry => entry.id, StringComparer.Ordinal);
        var merges = new List<(string Left, string Right)>();
        while (tokens.Count < vocabSize - specialTokens.Count && pairs.TryTakeMostFrequent(out int left, out int right))
        {
            string merged = tokens[left] + tokens[right];
            if (ids.ContainsKey(merged))
                continue;
            ids[merged] = tokens.Count;
            pairs.Merge(left, right, tokens.Count);
            tokens.Add(merged);
            merges.Add((tokens[left], tokens[right]));
        }
        return new ByteLevelBpeVocabulary(tokens, merges, specialTokens);
    }

    // How often each pre-tokenized word occurs, with special tokens cut out of the text first.
    private static Dictionary<string, long> CountWords(IEnumerable<string> texts, IReadOnlyList<string> specialTokens)
    {
        Regex? specials = specialTokens.Count == 0 ? null : new Regex(string.Join('|', specialTokens.Select(Regex.Escape)));
        Regex words = Gpt2Tokenizer.PreTokenizationPattern();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (string text in texts)
        {
            foreach (string segment in specials?.Split(text) ?? [text])
            {
                foreach (ValueMatch match in words.EnumerateMatches(segment))
                {
                    ReadOnlySpan<char> word = segment.AsSpan(match.Index, match.Length);
                    lookup[word] = lookup.TryGetValue(word, out long count) ? count + 1 : 1;
                }
            }
        }
        return counts;
    }

    /// <summary>The words as token ids, and how often each adjacent pair of ids occurs across them.</summary>
    private sealed class PairCounts
    {
        private readonly List<int[]> _words = [];
        private readonly List<long> _frequencies = [];
        private readonly Dictionary<(int, int), long> _counts = [];
        private readonly Dictionary<(int, int), HashSet<int>> _wordsWithPair = [];
        // Highest count first, then smallest ids; entries whose count has changed since are skipped when taken.
        private readonly PriorityQueue<(int Left, int Right), (long Count, int Left, int Right)> _queue =
            new(Comparer<(long Count, int Left, int Right)>.Create((a, b) =>
                a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Left != b.Left ? a.Left.CompareTo(b.Left) : a.Right.CompareTo(b.Right)));

        public PairCounts(Dictionary<string, long> wordCounts)
        {
            int[] byteIds = ByteLevelAlphabet.ByteTokenIds;
            foreach ((string word, long frequency) in wordCounts)
            {
                int index = _words.Count;
                int[] symbols = [.. Encoding.UTF8.GetBytes(word).Select(b => byteIds[b])];
                _words.Add(symbols);
                _frequencies.Add(frequency);
                for (int i = 0; i + 1 < symbols.Length; i++)
                {
                    (int, int) pair = (symbols[i], symbols[i + 1]);
                    _counts[pair] = _counts.GetValueOrDefault(pair) + frequency;
                    Index(pair, index);
                }
            }
            foreach (((int left, int right), long count) in _counts)
                _queue.Enqueue((left, right), (count, left, right));
        }

        public bool TryTakeMostFrequent(out int left, out int right)
        {
            while (_queue.TryDequeue(out (int Left, int Right) pair, out (long Count, int, int) priority))
            {
                if (_counts.GetValueOrDefault(pair) != priority.Count)
                    continue;
                _counts.Remove(pair);
                (left, right) = pair;
                return true;
            }
            left = right = -1;
            return false;
        }

        /// <summary>Replaces every (left, right) in the words that hold it with <paramref name="merged"/>, updating the counts of the pairs around it.</summary>
        public void Merge(int left, int right, int merged)
        {
            if (!_wordsWithPair.Remove((left, right), out HashSet<int>? words))
                return;
            var changes = new Dictionary<(int, int), long>();
            foreach (int index in words)
            {
                int[] symbols = _words[index];
                long frequency = _frequencies[index];
                var result = new List<int>(symbols.Length);
                for (int i = 0; i < symbols.Length; i++)
                {
                    if (i + 1 < symbols.Length && symbols[i] == left && symbols[i + 1] == right)
                    {
                        result.Add(merged);
                        i++;
                    }
                    else
                    {
                        result.Add(symbols[i]);
                    }
                }
                if (result.Count == symbols.Length)
                    continue;
                for (int i = 0; i + 1 < symbols.Length; i++)
                    changes[(symbols[i], symbols[i + 1])] = changes.GetValueOrDefault((symbols[i], symbols[i + 1])) - frequency;
                for (int i = 0; i + 1 < result.Count; i++)
                {
                    changes[(result[i], result[i + 1])] = changes.GetValueOrDefault((result[i], result[i + 1])) + frequency;
                    Index((result[i], result[i + 1]), index);
                }
                _words[index] = [.. result];
            }
            foreach (((int a, int b) pair, long change) in changes)
            {
                if (change == 0 || pair == (left, right))
                    continue;
                long count = _counts.GetValueOrDefault(pair) + change;
                if (count > 0)
                {
                    _counts[pair] = count;
                    _queue.Enqueue(pair, (count, pair.a, pair.b));
                }
                else
                {
                    _counts.Remove(pair);
                }
            }
        }

        private void Index((int, int) pair, int word)
        {
            if (!_wordsWithPair.TryGetValue(pair, out HashSet<int>? words))
                _wordsWithPair[pair] = words = [];
            words.Add(word);
        }
    }
}
