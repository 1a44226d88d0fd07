namespace Gpt2.Torch.Generation.Structured;

/// <summary>
/// One frame of a recognizer's stack, immutable and shared between stacks: a rule, the state it is in, and the frame
/// it returns to (already at the call's target state). Equality is by value, so that equal stacks built along different
/// paths are one recognizer state.
/// </summary>
internal sealed class RecognizerFrame : IEquatable<RecognizerFrame>
{
    private readonly int _hash;

    public RecognizerFrame(GrammarRule rule, int state, RecognizerFrame? parent)
    {
        Rule = rule;
        State = state;
        Parent = parent;
        Depth = parent is null ? 1 : parent.Depth + 1;
        _hash = HashCode.Combine(rule.Id, state, parent?._hash ?? 0);
    }

    public GrammarRule Rule { get; }

    public int State { get; }

    public RecognizerFrame? Parent { get; }

    /// <summary>How many frames the stack holds, this one included.</summary>
    public int Depth { get; }

    public bool Equals(RecognizerFrame? other)
    {
        RecognizerFrame? a = this, b = other;
        while (a is not null && b is not null)
        {
            if (ReferenceEquals(a, b))
                return true;
            if (a._hash != b._hash || a.State != b.State || !ReferenceEquals(a.Rule, b.Rule))
                return false;
            a = a.Parent;
            b = b.Parent;
        }
        return a is null && b is null;
    }

    public override bool Equals(object? obj) => Equals(obj as RecognizerFrame);

    public override int GetHashCode() => _hash;
}
