using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// Trains a <see cref="Gpt2Model"/> on next-token prediction (the book's <c>train_model_simple</c>, grown up) through the
/// <see cref="TrainingLoop"/>: this class supplies the batches, the next-token loss, and evaluations of the first
/// <see cref="LanguageModelTrainingOptions.EvaluationBatches"/> batches with a sample; checkpoints hold the model as a
/// Hugging Face folder, and <see cref="Resume"/> continues exactly as if the run had never stopped.
/// </summary>
public sealed class LanguageModelTrainer : IDisposable
{
    private readonly TrainingLoop _loop;

    /// <summary>Creates a trainer for a fresh run.</summary>
    /// <param name="model">The model to train; the caller keeps owning it.</param>
    /// <param name="options">How to train.</param>
    public LanguageModelTrainer(Gpt2Model model, LanguageModelTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        Model = model;
        Options = options;
        _loop = new TrainingLoop(model, options, folder => Gpt2Checkpoint.Save(model, folder));
    }

    /// <summary>Raised after every optimizer step (every <see cref="TrainingOptions.LogInterval"/> steps), on the training thread.</summary>
    public event Action<TrainingStep>? StepCompleted
    {
        add => _loop.StepCompleted += value;
        remove => _loop.StepCompleted -= value;
    }

    /// <summary>Raised after every evaluation, on the training thread.</summary>
    public event Action<TrainingEvaluation>? Evaluated
    {
        add => _loop.Evaluated += value;
        remove => _loop.Evaluated -= value;
    }

    /// <summary>The model being trained.</summary>
    public Gpt2Model Model { get; }

    /// <summary>How the run trains.</summary>
    public LanguageModelTrainingOptions Options { get; }

    /// <summary>Optimizer steps taken so far.</summary>
    public long StepsCompleted => _loop.StepsCompleted;

    /// <summary>Input tokens trained on so far.</summary>
    public long TokensSeen => _loop.TokensSeen;

    /// <summary>Every evaluation of the run so far, earlier sessions' included after a resume.</summary>
    public IReadOnlyList<TrainingEvaluation> Evaluations => _loop.Evaluations;

    /// <summary>
    /// Continues a run from a checkpoint folder, or from the newest checkpoint of a checkpoint directory, with the
    /// model, optimizer state, data position, random state, options and evaluations it had. New checkpoints go to the
    /// checkpoint's directory. The caller owns the returned trainer's <see cref="Model"/>.
    /// </summary>
    public static LanguageModelTrainer Resume(string checkpoint, Device? device = null)
    {
        string folder = TrainingCheckpoint.Locate(checkpoint);
        LanguageModelTrainingOptions options = TrainingLoop.ReadOptions<LanguageModelTrainingOptions>(folder);
        Gpt2Model model = Gpt2Checkpoint.Load(folder, device);
        try
        {
            var trainer = new LanguageModelTrainer(model, options with { CheckpointDirectory = Path.GetDirectoryName(folder) });
            trainer._loop.Restore(folder);
            return trainer;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trains until the last epoch (or <see cref="TrainingOptions.MaxSteps"/>) is done, evaluating every
    /// <see cref="LanguageModelTrainingOptions.EvaluationInterval"/> steps and after the last, and checkpointing as
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
        return _loop.Run(new Task(this, train, validation), cancellationToken);
    }

    /// <summary>
    /// Writes a checkpoint of the run as it stands into <see cref="TrainingOptions.CheckpointDirectory"/>
    /// (see <see cref="TrainingCheckpoint"/>): the model as a Hugging Face folder, the optimizer's moments, the random
    /// generator's state, and the step, data position, options and evaluations.
    /// </summary>
    /// <returns>The checkpoint folder.</returns>
    public string SaveCheckpoint() => _loop.SaveCheckpoint();

    /// <inheritdoc />
    public void Dispose() => _loop.Dispose();

    /// <summary>Pretraining as the loop sees it: next-token batches, their cross-entropy, and the book's evaluation.</summary>
    private sealed class Task(LanguageModelTrainer trainer, NextTokenBatches train, NextTokenBatches validation) : ITrainingTask<(Tensor Inputs, Tensor Targets)>
    {
        /// <summary>What a resumed run must be given again: the training batches' count, size, shuffling and seed.</summary>
        private sealed record DataShape(int Batches, int BatchSize, bool Shuffle, int Seed);

        public int BatchesPerEpoch => train.Count;

        public string DataDescription => new DataShape(train.Count, train.BatchSize, train.Shuffle, train.Seed).ToString();

        public IEnumerable<(Tensor Inputs, Tensor Targets)> Batches(int epoch, int skip) => train.Batches(epoch, skip);

        public (Tensor Loss, long Tokens) Loss((Tensor Inputs, Tensor Targets) batch) =>
            (LanguageModelLoss.OfBatch(trainer.Model, batch.Inputs, batch.Targets), batch.Inputs.numel());

        public (IReadOnlyDictionary<string, double> Metrics, int[]? Sample) Evaluate(double trainingLossSinceEvaluation)
        {
            LanguageModelTrainingOptions options = trainer.Options;
            double trainLoss = LanguageModelLoss.Evaluate(trainer.Model, train, options.EvaluationBatches);
            double validationLoss = LanguageModelLoss.Evaluate(trainer.Model, validation, options.EvaluationBatches);
            int[]? sample = options.SamplePrompt is { } prompt && double.IsFinite(trainLoss) && double.IsFinite(validationLoss)
                ? new Gpt2Generator(trainer.Model).Generate(prompt, options.SampleGeneration)
                : null;
            return (new Dictionary<string, double> { [TrainingMetrics.TrainLoss] = trainLoss, [TrainingMetrics.ValidationLoss] = validationLoss }, sample);
        }
    }
}
