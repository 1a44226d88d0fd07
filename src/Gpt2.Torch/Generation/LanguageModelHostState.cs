namespace Gpt2.Torch.Generation;

/// <summary>
/// What the decode loop of a <see cref="LanguageModelHost"/> holds at one moment (<see cref="LanguageModelHost.State"/>),
/// after vLLM's scheduler statistics: what a server reports as running and waiting requests and KV-cache usage.
/// </summary>
/// <param name="RunningGenerations">Generations in the running batch, each taking one token per step.</param>
/// <param name="WaitingGenerations">
/// Generations submitted that have not joined the batch yet: they join at its next step, after the step or other work
/// on the model now under way.
/// </param>
/// <param name="CachedTokens">Real tokens the running generations hold in the batch's keys and values.</param>
/// <param name="ReservedTokenPositions">
/// Positions the batch's keys and values are allocated for (rows times the batch's capacity, padding and room for the
/// tokens still to come included): the key-value memory held now, in positions.
/// </param>
public readonly record struct LanguageModelHostState(int RunningGenerations, int WaitingGenerations, long CachedTokens, long ReservedTokenPositions);
