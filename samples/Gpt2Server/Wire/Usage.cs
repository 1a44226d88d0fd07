namespace Gpt2Server.Wire;

/// <summary>OpenAI's <c>usage</c>: the prompt tokens the model read and the tokens it wrote.</summary>
public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens)
{
    /// <summary>The usage of one generation.</summary>
    public static Usage Of(Gpt2.Torch.Generation.TextGenerationResult result) =>
        new(result.PromptTokenCount, result.CompletionTokenCount, result.PromptTokenCount + result.CompletionTokenCount);
}
