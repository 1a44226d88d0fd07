using Microsoft.Extensions.AI.Evaluation;

namespace Microsoft.ML.Gpt2.Evaluation;

/// <summary>The correct answer a <see cref="ResponseJudgeEvaluator"/> compares the model's response with.</summary>
/// <param name="response">The reference response (the instruction data's output).</param>
public sealed class ReferenceResponseContext(string response) : EvaluationContext(ContextName, response)
{
    /// <summary>The name this context carries in evaluation results.</summary>
    public const string ContextName = "Reference response";

    /// <summary>The reference response.</summary>
    public string Response { get; } = response;
}
