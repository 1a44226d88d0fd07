namespace Gpt2.Torch.Training;

/// <summary>What one optimizer step of <see cref="LanguageModelTrainer"/> did.</summary>
/// <param name="Step">The step's index from 0 (the book's <c>global_step</c>).</param>
/// <param name="TotalSteps">Steps the run takes in all.</param>
/// <param name="Epoch">The epoch the step belongs to, from 1.</param>
/// <param name="Loss">The step's training loss: the mean cross-entropy over its accumulated batches, with dropout.</param>
/// <param name="LearningRate">The learning rate the step used.</param>
/// <param name="GradientNorm">The global gradient norm before clipping; null when clipping is off.</param>
/// <param name="TokensSeen">Input tokens trained on so far, this step's included.</param>
public sealed record TrainingStep(long Step, long TotalSteps, int Epoch, double Loss, double LearningRate, double? GradientNorm, long TokensSeen);
