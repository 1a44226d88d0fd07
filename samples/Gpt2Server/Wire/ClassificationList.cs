namespace Gpt2Server.Wire;

/// <summary>The answer to <c>POST /v1/classify</c>: one classification per text, in the order sent.</summary>
public sealed record ClassificationList(IReadOnlyList<Classification> Data)
{
    /// <summary>Always <c>"list"</c>.</summary>
    public string Object => "list";
}

/// <summary>The most likely label of the text at <c>index</c>, and every label's probability.</summary>
public sealed record Classification(int Index, string Label, IReadOnlyDictionary<string, float> Probabilities);
