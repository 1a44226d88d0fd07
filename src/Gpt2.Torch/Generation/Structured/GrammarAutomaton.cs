namespace Gpt2.Torch.Generation.Structured;

/// <summary>
/// The recognizer of a <see cref="JsonGrammar"/>, built lazily as a deterministic automaton over
/// <see cref="RecognizerState"/>s: the state after a byte is computed once (stacks advanced, then closed over calls and
/// returns) and memoized, so that walking the vocabulary's trie, where most tokens lead through the same few states,
/// costs array lookups. At most <see cref="MaxStates"/> states are kept; past that the memo starts afresh (states held
/// by running rows stay valid: they are taken into the new generation when next advanced).
/// </summary>
/// <remarks>Not thread-safe: callers hold <see cref="Gate"/>.</remarks>
internal sealed class GrammarAutomaton
{
    /// <summary>The most states memoized at once (each keeps 256 transitions).</summary>
    public const int MaxStates = 4096;

    // A stack this deep can only come from a grammar that calls itself without reading (refused when compiled).
    private const int MaxDepth = 100_000;

    private static readonly RecognizerState Dead = new([], isComplete: false);
    private readonly Dictionary<RecognizerState, RecognizerState> _states = [];
    private int _generation;

    public GrammarAutomaton(GrammarRule root)
    {
        var stacks = new HashSet<RecognizerFrame>();
        bool complete = false;
        Close(new RecognizerFrame(root, GrammarRule.Start, null), stacks, ref complete);
        Start = Intern(new RecognizerState([.. stacks], complete));
    }

    /// <summary>The lock that callers hold around <see cref="Next"/>.</summary>
    public object Gate { get; } = new();

    /// <summary>The state before any text.</summary>
    public RecognizerState Start { get; }

    /// <summary>How many states are memoized now.</summary>
    public int StateCount => _states.Count;

    /// <summary>How many times the memo started afresh.</summary>
    public int Restarts => _generation;

    /// <summary>The state after <paramref name="state"/> reads <paramref name="value"/>, or null when the byte cannot follow.</summary>
    public RecognizerState? Next(RecognizerState state, byte value)
    {
        if (state.Generation != _generation)
            state = Intern(state);
        RecognizerState?[] transitions = state.Transitions!;
        RecognizerState? next = transitions[value];
        if (next is null)
        {
            next = Intern(Step(state, value));
            // Interning may have started a new generation, where this state is not memoized.
            if (state.Generation == _generation)
                transitions[value] = next;
        }
        return ReferenceEquals(next, Dead) ? null : next;
    }

    private RecognizerState Intern(RecognizerState state)
    {
        if (state.IsDead)
            return Dead;
        if (_states.TryGetValue(state, out RecognizerState? known))
            return known;
        if (_states.Count >= MaxStates)
        {
            _states.Clear();
            _generation++;
        }
        state.Generation = _generation;
        state.Transitions = new RecognizerState?[256];
        _states.Add(state, state);
        return state;
    }

    private static RecognizerState Step(RecognizerState state, byte value)
    {
        var stacks = new HashSet<RecognizerFrame>();
        bool complete = false;
        foreach (RecognizerFrame top in state.Stacks)
        {
            foreach (ByteEdge edge in top.Rule.ByteEdges(top.State))
            {
                if (value >= edge.First && value <= edge.Last)
                    Close(new RecognizerFrame(top.Rule, edge.Target, top.Parent), stacks, ref complete);
            }
        }
        return stacks.Count == 0 && !complete ? Dead : new RecognizerState([.. stacks], complete);
    }

    // Follows calls (pushing the callee) and returns (popping to the caller, already at the call's target) until every
    // stack's top reads a byte; a return from the outermost rule makes the state complete.
    private static void Close(RecognizerFrame frame, HashSet<RecognizerFrame> stacks, ref bool complete)
    {
        if (frame.Depth > MaxDepth)
            throw new InvalidOperationException($"The grammar's rule '{frame.Rule.Name}' nests without reading text.");
        GrammarRule rule = frame.Rule;
        if (rule.ByteEdges(frame.State).Count > 0)
            stacks.Add(frame);
        foreach (CallEdge call in rule.CallEdges(frame.State))
            Close(new RecognizerFrame(call.Rule, GrammarRule.Start, new RecognizerFrame(rule, call.Target, frame.Parent)), stacks, ref complete);
        if (rule.IsAccepting(frame.State))
        {
            if (frame.Parent is null)
                complete = true;
            else
                Close(frame.Parent, stacks, ref complete);
        }
    }
}
