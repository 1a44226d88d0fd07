namespace Gpt2.Torch.Training;

/// <summary>One training or evaluation sequence for <see cref="SequenceClassificationTrainer"/>.</summary>
/// <param name="TokenIds">The token ids, at least one, at most the model's context length.</param>
/// <param name="Label">The class index in [0, classes).</param>
public sealed record ClassificationExample(int[] TokenIds, int Label);
