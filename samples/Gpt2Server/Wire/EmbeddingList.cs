namespace Gpt2Server.Wire;

/// <summary>
/// OpenAI's answer to <c>POST /v1/embeddings</c>: one embedding per input, in the order sent. <typeparamref name="TVector"/>
/// is <c>float[]</c> for <c>encoding_format: "float"</c> and a base64 string of the little-endian float32 bytes for
/// <c>"base64"</c>.
/// </summary>
public sealed record EmbeddingList<TVector>(IReadOnlyList<EmbeddingData<TVector>> Data, string Model, EmbeddingUsage Usage)
{
    /// <summary>Always <c>"list"</c>.</summary>
    public string Object => "list";
}

/// <summary>The embedding of the input at <c>index</c>.</summary>
public sealed record EmbeddingData<TVector>(int Index, TVector Embedding)
{
    /// <summary>Always <c>"embedding"</c>.</summary>
    public string Object => "embedding";
}

/// <summary>The tokens the model read: every input's, summed (an embedding writes none).</summary>
public sealed record EmbeddingUsage(int PromptTokens, int TotalTokens);
