namespace Gpt2Server.Wire;

/// <summary>The answer to <c>GET /v1/models</c>.</summary>
public sealed record ModelList(IReadOnlyList<ModelCard> Data)
{
    /// <summary>Always <c>"list"</c>.</summary>
    public string Object => "list";
}

/// <summary>A served model; <c>context_length</c> is vLLM's extension (clients size prompts with it).</summary>
public sealed record ModelCard(string Id, long Created, string OwnedBy, int ContextLength)
{
    /// <summary>Always <c>"model"</c>.</summary>
    public string Object => "model";
}
