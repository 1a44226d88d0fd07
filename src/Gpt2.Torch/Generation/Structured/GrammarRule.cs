namespace Gpt2.Torch.Generation.Structured;

/// <summary>An edge of a <see cref="GrammarRule"/> that consumes one byte from <see cref="First"/> to <see cref="Last"/>.</summary>
internal readonly record struct ByteEdge(byte First, byte Last, int Target);

/// <summary>An edge of a <see cref="GrammarRule"/> that matches a whole <see cref="Rule"/> before reaching its target.</summary>
internal readonly record struct CallEdge(GrammarRule Rule, int Target);

/// <summary>
/// One rule of a recursive transition network over bytes: a small automaton whose states (0 is the start) have byte
/// edges, call edges (another rule, matched completely, then the target) and may accept (the rule's text may end
/// there). A JSON Schema compiles to such rules (<see cref="JsonSchemaCompiler"/>); recursion between rules is what
/// <c>$ref</c> and nested values need, which a finite automaton cannot express.
/// </summary>
internal sealed class GrammarRule
{
    private readonly List<bool> _accepting = [false];
    private readonly List<List<ByteEdge>> _bytes = [[]];
    private readonly List<List<CallEdge>> _calls = [[]];

    /// <param name="name">Where the rule comes from (a JSON pointer into the schema, or a lexical rule's name), for messages.</param>
    public GrammarRule(string name) => Name = name;

    public const int Start = 0;

    public string Name { get; }

    /// <summary>The rule's index in its grammar (set when the grammar is sealed); it identifies the rule in hashes.</summary>
    public int Id { get; set; }

    public int StateCount => _accepting.Count;

    public int AddState(bool accepting = false)
    {
        _accepting.Add(accepting);
        _bytes.Add([]);
        _calls.Add([]);
        return _accepting.Count - 1;
    }

    public void Accept(int state) => _accepting[state] = true;

    public bool IsAccepting(int state) => _accepting[state];

    public void AddBytes(int from, byte first, byte last, int to) => _bytes[from].Add(new ByteEdge(first, last, to));

    public void AddByte(int from, byte value, int to) => AddBytes(from, value, value, to);

    /// <summary>A chain of new states that reads <paramref name="bytes"/> from <paramref name="from"/>; returns the state after it (<paramref name="from"/> for no bytes).</summary>
    public int AddLiteral(int from, ReadOnlySpan<byte> bytes)
    {
        foreach (byte value in bytes)
        {
            int next = AddState();
            AddByte(from, value, next);
            from = next;
        }
        return from;
    }

    public void AddCall(int from, GrammarRule rule, int to) => _calls[from].Add(new CallEdge(rule, to));

    public IReadOnlyList<ByteEdge> ByteEdges(int state) => _bytes[state];

    public IReadOnlyList<CallEdge> CallEdges(int state) => _calls[state];

    /// <summary>Removes the edges that lead to a state not in <paramref name="live"/> or call a rule not in <paramref name="productive"/>.</summary>
    public void Prune(bool[] live, ISet<GrammarRule> productive)
    {
        for (int state = 0; state < StateCount; state++)
        {
            _bytes[state].RemoveAll(edge => !live[edge.Target]);
            _calls[state].RemoveAll(edge => !live[edge.Target] || !productive.Contains(edge.Rule));
        }
    }

    /// <summary>
    /// The states from which the rule can still end: accepting states and those with an edge (a call only to a rule in
    /// <paramref name="productive"/>) to such a state.
    /// </summary>
    public bool[] LiveStates(ISet<GrammarRule> productive)
    {
        var predecessors = new List<int>[StateCount];
        for (int state = 0; state < StateCount; state++)
            predecessors[state] = [];
        for (int state = 0; state < StateCount; state++)
        {
            foreach (ByteEdge edge in _bytes[state])
                predecessors[edge.Target].Add(state);
            foreach (CallEdge edge in _calls[state].Where(edge => productive.Contains(edge.Rule)))
                predecessors[edge.Target].Add(state);
        }
        bool[] live = [.. _accepting];
        var pending = new Stack<int>(Enumerable.Range(0, StateCount).Where(state => live[state]));
        while (pending.TryPop(out int state))
        {
            foreach (int predecessor in predecessors[state])
            {
                if (!live[predecessor])
                {
                    live[predecessor] = true;
                    pending.Push(predecessor);
                }
            }
        }
        return live;
    }

    public override string ToString() => Name;
}
