using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Data;
using Gpt2.Torch.Model;

namespace Gpt2.Torch.Training;

/// <summary>
/// Trains a <see cref="CausalLanguageModel"/> on next-token prediction (the book's <c>train_model_simple</c>, grown up) through the
/// training loop: this class supplies the batches, the next-token loss, and evaluations of the first
/// <see cref="LanguageModelTrainingOptions.EvaluationBatches"/> batches with a sample. Checkpoints hold the model as a
/// Hugging Face folder (so a checkpoint directory is also a <see cref="LanguageModelSource"/>), and
/// <see cref="TrainingOptions.ResumeFromCheckpoint"/> continues exactly as if the run had never stopped.
/// </summary>
public sealed class LanguageModelTrainer : TrainerBase<CausalLanguageModel, LanguageModelTrainingOptions>
{
    /// <summary>
    /// Creates a trainer; with <see cref="TrainingOptions.ResumeFromCheckpoint"/> and a checkpoint in the checkpoint
    /// directory, <paramref name="model"/> (of the checkpoint's configuration) gets its weights and the run its state.
    /// </summary>
    /// <param name="model">The model to train; the caller keeps owning it.</param>
    /// <param name="options">How to train.</param>
    public LanguageModelTrainer(CausalLanguageModel model, LanguageModelTrainingOptions options)
        : base(model, WithSampleTokenizer(model, options), folder => model.SaveCheckpoint(folder), folder => LoadCheckpointWeights(model, folder))
    {
    }

    // Refused before the trainer is made rather than at the first evaluation, after minutes of training.
    private static LanguageModelTrainingOptions WithSampleTokenizer(CausalLanguageModel model, LanguageModelTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (options.SamplePrompt is not null && options.Tokenizer is null && model.Config.BuiltInTokenizer is null)
            throw new ArgumentException(
                $"LanguageModelTrainingOptions.SamplePrompt is set, but Tokenizer is not, and a '{model.Config.ModelType}' model has no built-in tokenizer to stop its samples with: set Tokenizer to the model's tokenizer (HuggingFaceTokenizer.Load(folder)), or SamplePrompt to null.",
                nameof(options));
        return options;
    }

    /// <summary>
    /// Trains until the last epoch (or <see cref="TrainingOptions.MaxSteps"/>) is done, evaluating every
    /// <see cref="LanguageModelTrainingOptions.EvaluationInterval"/> steps and after the last (with
    /// <see cref="TrainingMetrics.TrainLoss"/> and <see cref="TrainingMetrics.ValidationLoss"/>), and checkpointing as
    /// configured. Cancellation stops before the next step, writes a checkpoint of the steps taken (when checkpoints
    /// are on) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <param name="train">The training batches; a step takes <see cref="TrainingOptions.GradientAccumulationSteps"/> of them, and leftovers at an epoch's end are skipped.</param>
    /// <param name="validation">The validation batches.</param>
    /// <param name="cancellationToken">Stops the run at the next step.</param>
    /// <returns>The evaluation after the last step.</returns>
    /// <exception cref="TrainingDivergedException">A training or validation loss was NaN or infinite (checked where the loss is read back anyway).</exception>
    public TrainingEvaluation Train(NextTokenBatches train, NextTokenBatches validation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        if (validation.Count == 0)
            throw new ArgumentException("The validation data give no batch; use more validation text or a shorter max length.", nameof(validation));
        return Run(new LanguageModelTask(Model, Options, train, validation), cancellationToken);
    }

    // The checkpoint's configuration must be the model's (dropout included, which the weights do not show).
    private static void LoadCheckpointWeights(CausalLanguageModel model, string folder)
    {
        LanguageModelConfig saved = LanguageModelConfig.Load(Path.Combine(folder, Gpt2Checkpoint.ConfigFileName));
        if (saved with { ExtraFieldsJson = null } != model.Config with { ExtraFieldsJson = null })
            throw new ArgumentException(
                $"{folder} holds a model of another configuration than the one given ({saved} there, {model.Config} here); create the model from the checkpoint's configuration (LanguageModelConfig.Load of its {Gpt2Checkpoint.ConfigFileName}) to resume.",
                nameof(model));
        model.LoadCheckpointWeights(folder);
    }
}
