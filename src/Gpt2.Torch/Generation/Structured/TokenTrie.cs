using System.Runtime.CompilerServices;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Generation.Structured;

/// <summary>
/// A tokenizer's vocabulary as a trie of token bytes, in preorder (node 0 is the root; each node's subtree follows it
/// and ends at <see cref="SubtreeEnd"/>), so that the tokens a state allows are found in one pass that skips a whole
/// subtree at its first rejected byte. Special tokens, the end-of-text and end-of-turn tokens, and tokens of no bytes
/// are left out: they are never text of a document. Built once per tokenizer.
/// </summary>
internal sealed class TokenTrie
{
    private static readonly ConditionalWeakTable<LanguageModelTokenizer, TokenTrie> Built = [];

    private TokenTrie(LanguageModelTokenizer tokenizer)
    {
        VocabularySize = tokenizer.VocabSize;
        EndIds = [.. new[] { tokenizer.EndOfTextId }.Concat(tokenizer.EndOfTurnIds).Distinct().Order()];
        var excluded = new HashSet<int>(EndIds.Concat(tokenizer.SpecialTokenIds));
        byte[][] bytes = new byte[VocabularySize][];
        var ids = new List<int>(VocabularySize);
        for (int id = 0; id < VocabularySize; id++)
        {
            bytes[id] = tokenizer.TokenBytes(id).ToArray();
            if (bytes[id].Length > 0 && !excluded.Contains(id))
                ids.Add(id);
        }
        ids.Sort((a, b) => bytes[a].AsSpan().SequenceCompareTo(bytes[b]));

        var labels = new List<byte> { 0 };
        var depths = new List<int> { 0 };
        var ends = new List<int> { 0 };
        var nodeOfToken = new List<(int Node, int Token)>(ids.Count);
        var path = new List<int> { 0 };   // path[d]: the node at depth d of the last token
        byte[] previous = [];
        foreach (int id in ids)
        {
            byte[] token = bytes[id];
            int common = token.AsSpan().CommonPrefixLength(previous);
            while (path.Count - 1 > common)
            {
                ends[path[^1]] = labels.Count;
                path.RemoveAt(path.Count - 1);
            }
            for (int depth = common; depth < token.Length; depth++)
            {
                path.Add(labels.Count);
                labels.Add(token[depth]);
                depths.Add(depth + 1);
                ends.Add(0);
            }
            nodeOfToken.Add((path[token.Length], id));
            previous = token;
        }
        while (path.Count > 0)
        {
            ends[path[^1]] = labels.Count;
            path.RemoveAt(path.Count - 1);
        }
        Labels = [.. labels];
        Depths = [.. depths];
        SubtreeEnd = [.. ends];
        MaxDepth = depths.Max();
        // The tokens of node i are Tokens[TokenStart[i]..TokenStart[i + 1]] (nodeOfToken is in node order: ids are sorted).
        TokenStart = new int[Labels.Length + 1];
        foreach ((int node, _) in nodeOfToken)
            TokenStart[node + 1]++;
        for (int i = 0; i < Labels.Length; i++)
            TokenStart[i + 1] += TokenStart[i];
        Tokens = [.. nodeOfToken.Select(entry => entry.Token)];
        TokenBytes = bytes;
    }

    /// <summary>The tokenizer's vocabulary size (ids from 0 to it, less one).</summary>
    public int VocabularySize { get; }

    /// <summary>The tokens that end generation: end-of-text and end-of-turn.</summary>
    public int[] EndIds { get; }

    /// <summary>Each node's byte (the root's is unused).</summary>
    public byte[] Labels { get; }

    /// <summary>Each node's depth: the length of its bytes.</summary>
    public int[] Depths { get; }

    /// <summary>The node after each node's subtree.</summary>
    public int[] SubtreeEnd { get; }

    public int[] TokenStart { get; }

    public int[] Tokens { get; }

    public int MaxDepth { get; }

    public int NodeCount => Labels.Length;

    /// <summary>Every token's bytes, by id.</summary>
    public byte[][] TokenBytes { get; }

    public static TokenTrie For(LanguageModelTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Built.GetValue(tokenizer, t => new TokenTrie(t));
    }
}
