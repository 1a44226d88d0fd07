namespace Gpt2.Torch.Generation.Structured;

/// <summary>
/// Where a recognizer stands after some text: the stacks still alive (each top at a state that reads a byte; more than
/// one where the grammar is ambiguous so far, as in <c>anyOf</c>), and whether the whole output may end here.
/// Immutable as a value (equality is by the set of stacks); <see cref="GrammarAutomaton"/> memoizes its transitions.
/// </summary>
internal sealed class RecognizerState : IEquatable<RecognizerState>
{
    private readonly int _hash;

    public RecognizerState(RecognizerFrame[] stacks, bool isComplete)
    {
        Stacks = stacks;
        IsComplete = isComplete;
        int hash = isComplete ? 1 : 0;
        foreach (RecognizerFrame stack in stacks)
            hash += stack.GetHashCode() * 31 + 17;   // order-independent: a set of stacks
        _hash = hash;
    }

    /// <summary>The live stacks, distinct.</summary>
    public RecognizerFrame[] Stacks { get; }

    /// <summary>Whether the text so far is a whole output (document and suffix).</summary>
    public bool IsComplete { get; }

    /// <summary>Whether no text can follow and the text so far is not an output either.</summary>
    public bool IsDead => Stacks.Length == 0 && !IsComplete;

    /// <summary>The automaton generation <see cref="Transitions"/> belongs to.</summary>
    internal int Generation { get; set; } = -1;

    /// <summary>The state after each byte, filled as asked (<see cref="GrammarAutomaton"/>).</summary>
    internal RecognizerState?[]? Transitions { get; set; }

    public bool Equals(RecognizerState? other)
    {
        if (ReferenceEquals(this, other))
            return true;
        if (other is null || other._hash != _hash || other.IsComplete != IsComplete || other.Stacks.Length != Stacks.Length)
            return false;
        foreach (RecognizerFrame stack in Stacks)
        {
            if (Array.IndexOf(other.Stacks, stack) < 0)
                return false;
        }
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as RecognizerState);

    public override int GetHashCode() => _hash;
}
