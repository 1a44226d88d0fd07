namespace Gpt2.Torch.Generation.Structured;

/// <summary>
/// Which tokens of a vocabulary may come next in each state of a grammar: a bit per token, found by walking the
/// vocabulary's trie through the grammar's automaton, and kept for the states used last, up to <see cref="MaxBytes"/>
/// of masks (a document's states repeat: every character of a free string is the same state, and the documents of one
/// schema go through the same states). When the output may end, the end-of-text and end-of-turn tokens are allowed too.
/// </summary>
internal sealed class TokenMasks
{
    /// <summary>The most bytes of masks kept per grammar and vocabulary (with at least <see cref="MinCapacity"/> masks).</summary>
    public const int MaxBytes = 4 << 20;

    /// <summary>The fewest masks kept, however large the vocabulary.</summary>
    public const int MinCapacity = 64;

    /// <summary>The most masks kept, however small the vocabulary.</summary>
    public const int MaxCapacity = 1024;

    private readonly LruCache<RecognizerState, ulong[]> _masks;

    public TokenMasks(JsonGrammar grammar, TokenTrie vocabulary)
    {
        Automaton = grammar.Automaton;
        Vocabulary = vocabulary;
        // 4 MiB: 660 masks of GPT-2's 50,257 tokens, 215 of Qwen3's 151,669.
        Capacity = Math.Clamp(MaxBytes / ((vocabulary.VocabularySize + 63) / 64 * sizeof(ulong)), MinCapacity, MaxCapacity);
        _masks = new LruCache<RecognizerState, ulong[]>(Capacity);
    }

    /// <summary>How many masks are kept at most.</summary>
    public int Capacity { get; }

    public GrammarAutomaton Automaton { get; }

    public TokenTrie Vocabulary { get; }

    /// <summary>How many masks are kept now.</summary>
    public int Count => _masks.Count;

    /// <summary>The tokens allowed after <paramref name="state"/>, a bit per token id (do not modify).</summary>
    public ulong[] Allowed(RecognizerState state) =>
        // The key is a copy without the automaton's transitions, so that a kept mask never keeps an automaton
        // generation alive after it was started afresh.
        _masks.TryGet(state, out ulong[] known) ? known : _masks.GetOrAdd(new RecognizerState(state.Stacks, state.IsComplete), _ => Compute(state));

    /// <summary>The state after <paramref name="token"/>'s bytes.</summary>
    /// <exception cref="InvalidOperationException">The token cannot continue the output.</exception>
    public RecognizerState Advance(RecognizerState state, int token)
    {
        if (token < 0 || token >= Vocabulary.VocabularySize)
            throw new InvalidOperationException($"Token {token} is outside the tokenizer's vocabulary of {Vocabulary.VocabularySize}; it cannot continue the structured output.");
        if (state.IsComplete && Array.IndexOf(Vocabulary.EndIds, token) >= 0)
            return state;
        lock (Automaton.Gate)
        {
            RecognizerState? at = state;
            foreach (byte value in Vocabulary.TokenBytes[token])
            {
                at = Automaton.Next(at, value);
                if (at is null)
                    break;
            }
            return at ?? throw new InvalidOperationException($"Token {token} cannot continue the structured output here; it was generated without the structured output's mask.");
        }
    }

    private ulong[] Compute(RecognizerState state)
    {
        TokenTrie trie = Vocabulary;
        ulong[] bits = new ulong[(trie.VocabularySize + 63) / 64];
        byte[] labels = trie.Labels;
        int[] depths = trie.Depths, ends = trie.SubtreeEnd, starts = trie.TokenStart, tokens = trie.Tokens;
        var path = new RecognizerState[trie.MaxDepth + 1];
        path[0] = state;
        lock (Automaton.Gate)
        {
            for (int node = 1; node < labels.Length;)
            {
                int depth = depths[node];
                RecognizerState? next = Automaton.Next(path[depth - 1], labels[node]);
                if (next is null)
                {
                    node = ends[node];
                    continue;
                }
                path[depth] = next;
                for (int i = starts[node]; i < starts[node + 1]; i++)
                    bits[tokens[i] >> 6] |= 1UL << (tokens[i] & 63);
                node++;
            }
        }
        if (state.IsComplete)
        {
            foreach (int end in trie.EndIds)
                bits[end >> 6] |= 1UL << (end & 63);
        }
        return bits;
    }
}
