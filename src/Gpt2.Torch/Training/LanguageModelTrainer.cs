using System.Text.Json;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.IO;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// Trains a <see cref="Gpt2Model"/> on next-token prediction (the book's <c>train_model_simple</c>, grown up): AdamW with
/// GPT-2's decay groups, warmup and cosine decay, gradient clipping and accumulation, periodic evaluation with a
/// sample, and checkpoints from which <see cref="Resume"/> continues exactly as if the run had never stopped.
/// </summary>
public sealed class LanguageModelTrainer : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly AdamW _optimizer;
    private readonly List<TrainingEvaluation> _evaluations = [];
    private Tensor? _restoredRandomState; // a resumed run's generator state, applied when training starts
    private DataShape? _data;
    private int _epoch; // of the next step, from 0
    private int _stepInEpoch; // steps taken in that epoch
    private long _checkpointStep;

    /// <summary>Creates a trainer for a fresh run.</summary>
    /// <param name="model">The model to train; the caller keeps owning it.</param>
    /// <param name="options">How to train.</param>
    public LanguageModelTrainer(Gpt2Model model, LanguageModelTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Model = model;
        Options = options;
        _optimizer = new AdamW(model.named_parameters(), options.LearningRate, options.WeightDecay);
    }

    /// <summary>Raised after every optimizer step, on the training thread.</summary>
    public event Action<TrainingStep>? StepCompleted;

    /// <summary>Raised after every evaluation, on the training thread.</summary>
    public event Action<TrainingEvaluation>? Evaluated;

    /// <summary>The model being trained.</summary>
    public Gpt2Model Model { get; }

    /// <summary>How the run trains.</summary>
    public LanguageModelTrainingOptions Options { get; }

    /// <summary>Optimizer steps taken so far.</summary>
    public long StepsCompleted { get; private set; }

    /// <summary>Input tokens trained on so far.</summary>
    public long TokensSeen { get; private set; }

    /// <summary>Every evaluation of the run so far, earlier sessions' included after a resume.</summary>
    public IReadOnlyList<TrainingEvaluation> Evaluations => _evaluations;

    /// <summary>
    /// Continues a run from a checkpoint folder, or from the newest checkpoint of a checkpoint directory, with the
    /// model, optimizer state, data position, random state, options and evaluations it had. New checkpoints go to the
    /// checkpoint's directory. The caller owns the returned trainer's <see cref="Model"/>.
    /// </summary>
    public static LanguageModelTrainer Resume(string checkpoint, Device? device = null)
    {
        string folder = TrainingCheckpoint.Locate(checkpoint);
        State state = JsonSerializer.Deserialize<State>(File.ReadAllText(Path.Combine(folder, TrainingCheckpoint.StateFileName)), Json)
            ?? throw new InvalidDataException($"{folder}: {TrainingCheckpoint.StateFileName} is empty.");
        if (state.FormatVersion != State.CurrentFormatVersion)
            throw new InvalidDataException($"{folder}: checkpoint format {state.FormatVersion} is not the supported {State.CurrentFormatVersion}.");
        Gpt2Model model = Gpt2Checkpoint.Load(folder, device);
        try
        {
            var trainer = new LanguageModelTrainer(model, state.Options with { CheckpointDirectory = Path.GetDirectoryName(folder) });
            using (var tensors = SafetensorsFile.Open(Path.Combine(folder, TrainingCheckpoint.TrainingTensorsFileName)))
            using (var scope = NewDisposeScope())
            {
                var moments = tensors.Tensors.Keys.Where(name => name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                    .ToDictionary(name => name[OptimizerPrefix.Length..], tensors.ReadTensor);
                trainer._optimizer.LoadState(moments, state.StepsCompleted);
                trainer._restoredRandomState = tensors.ReadTensor(RandomStateName).DetachFromDisposeScope();
            }
            trainer.StepsCompleted = trainer._checkpointStep = state.StepsCompleted;
            trainer.TokensSeen = state.TokensSeen;
            trainer._epoch = state.Epoch;
            trainer._stepInEpoch = state.StepInEpoch;
            trainer._data = state.Data;
            trainer._evaluations.AddRange(state.Evaluations);
            return trainer;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trains until the last epoch (or <see cref="LanguageModelTrainingOptions.MaxSteps"/>) is done, evaluating every
    /// <see cref="LanguageModelTrainingOptions.EvaluationInterval"/> steps and after the last, and checkpointing as
    /// configured. Cancellation stops before the next step, writes a checkpoint of the steps taken (when checkpoints
    /// are on) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <param name="train">The training batches; a step takes <see cref="LanguageModelTrainingOptions.GradientAccumulationSteps"/> of them, and leftovers at an epoch's end are skipped.</param>
    /// <param name="validation">The validation batches.</param>
    /// <param name="cancellationToken">Stops the run at the next step.</param>
    /// <returns>The evaluation after the last step.</returns>
    /// <exception cref="TrainingDivergedException">A training or validation loss was NaN or infinite (checked where the loss is read back anyway).</exception>
    public TrainingEvaluation Train(NextTokenBatches train, NextTokenBatches validation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        int accumulation = Options.GradientAccumulationSteps;
        if (train.Count < accumulation)
            throw new ArgumentException(
                $"The training data give {train.Count} batches per epoch, fewer than the {accumulation} that one step accumulates; use more text, smaller batches or fewer accumulation steps.",
                nameof(train));
        if (validation.Count == 0)
            throw new ArgumentException("The validation data give no batch; use more validation text or a shorter max length.", nameof(validation));
        var data = new DataShape(train.Count, train.BatchSize, train.Shuffle, train.Seed);
        if (_data is not null && _data != data)
            throw new ArgumentException(
                $"The training data differ from the run's ({_data}), being {data}; pass the same windows, batch size, shuffling and seed to continue it exactly.",
                nameof(train));

        int stepsPerEpoch = train.Count / accumulation;
        long totalSteps = Math.Min((long)Options.Epochs * stepsPerEpoch, Options.MaxSteps ?? long.MaxValue);
        if (Options.CosineDecay && totalSteps <= Options.WarmupSteps)
            throw new ArgumentException(
                $"The run has {totalSteps} steps, no more than its {Options.WarmupSteps} warmup steps, so the cosine decay has no step left; lower WarmupSteps or turn CosineDecay off.");
        LearningRateSchedule schedule = Options.Schedule(totalSteps);
        _data = data;

        if (_restoredRandomState is not null)
        {
            set_rng_state(_restoredRandomState);
            _restoredRandomState.Dispose();
            _restoredRandomState = null;
        }
        else if (StepsCompleted == 0)
        {
            random.manual_seed(Options.Seed);
        }

        IEnumerator<(Tensor Inputs, Tensor Targets)>? batches = null;
        bool wasTraining = Model.training;
        Model.train(); // evaluations switch dropout off and back on
        try
        {
            while (StepsCompleted < totalSteps)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    if (Options.CheckpointDirectory is not null && _checkpointStep != StepsCompleted)
                        SaveCheckpoint();
                    cancellationToken.ThrowIfCancellationRequested();
                }
                batches ??= train.Batches(_epoch, _stepInEpoch * accumulation).GetEnumerator();
                TrainingStep step = TakeStep(batches, accumulation, schedule, totalSteps);
                if (_stepInEpoch == stepsPerEpoch)
                {
                    (_epoch, _stepInEpoch) = (_epoch + 1, 0);
                    batches.Dispose();
                    batches = null;
                }
                StepCompleted?.Invoke(step);

                bool last = StepsCompleted == totalSteps;
                if (last || (Options.EvaluationInterval > 0 && step.Step % Options.EvaluationInterval == 0))
                    Evaluate(train, validation, step.Epoch, step.LearningRate);
                if (Options.CheckpointDirectory is not null && (last || (Options.CheckpointInterval > 0 && StepsCompleted % Options.CheckpointInterval == 0)))
                    SaveCheckpoint();
            }
        }
        finally
        {
            batches?.Dispose();
            Model.train(wasTraining);
        }
        return _evaluations[^1];
    }

    /// <summary>
    /// Writes a checkpoint of the run as it stands into <see cref="LanguageModelTrainingOptions.CheckpointDirectory"/>
    /// (see <see cref="TrainingCheckpoint"/>): the model as a Hugging Face folder, the optimizer's moments, the random
    /// generator's state, and the step, data position, options and evaluations.
    /// </summary>
    /// <returns>The checkpoint folder.</returns>
    public string SaveCheckpoint()
    {
        string directory = Options.CheckpointDirectory
            ?? throw new InvalidOperationException("Set LanguageModelTrainingOptions.CheckpointDirectory to write checkpoints.");
        var state = new State(State.CurrentFormatVersion, StepsCompleted, _epoch, _stepInEpoch, TokensSeen, _data, Options, [.. _evaluations]);
        string folder = TrainingCheckpoint.Commit(directory, TrainingCheckpoint.FolderName(StepsCompleted), temporary =>
        {
            Gpt2Checkpoint.Save(Model, temporary);
            using var scope = NewDisposeScope();
            List<(string, Tensor)> tensors = [.. _optimizer.StateTensors().Select(t => (OptimizerPrefix + t.Name, t.Tensor))];
            tensors.Add((RandomStateName, _restoredRandomState ?? get_rng_state()));
            SafetensorsWriter.Write(Path.Combine(temporary, TrainingCheckpoint.TrainingTensorsFileName), tensors);
            AtomicFile.WriteAllText(Path.Combine(temporary, TrainingCheckpoint.StateFileName), JsonSerializer.Serialize(state, Json));
        });
        _checkpointStep = StepsCompleted;
        return folder;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer.Dispose();
        _restoredRandomState?.Dispose();
    }

    private const string OptimizerPrefix = "optimizer.";
    private const string RandomStateName = "random.cpu";

    private TrainingStep TakeStep(IEnumerator<(Tensor Inputs, Tensor Targets)> batches, int accumulation, LearningRateSchedule schedule, long totalSteps)
    {
        using var scope = NewDisposeScope();
        _optimizer.ZeroGrad();
        Tensor lossSum = zeros(1, device: Model.Device);
        for (int micro = 0; micro < accumulation; micro++)
        {
            // Each batch's activations go as soon as its gradient is in: accumulation exists to save that memory.
            using var batchScope = NewDisposeScope();
            if (!batches.MoveNext())
                throw new InvalidOperationException("The training batches ended before the epoch's steps did.");
            (Tensor inputs, Tensor targets) = batches.Current;
            Tensor loss = LanguageModelLoss.OfBatch(Model, inputs, targets);
            // Each batch's mean loss weighs 1/k, so k accumulated batches give the gradient of one k-times larger batch.
            (loss / accumulation).backward();
            lossSum.add_(loss.detach());
            TokensSeen += inputs.numel();
        }
        double? norm = Options.MaxGradientNorm is double max ? GradientClipping.ClipGlobalNorm(Model.parameters(), max) : null;
        double learningRate = schedule.LearningRateAt(StepsCompleted);
        _optimizer.LearningRate = learningRate;
        _optimizer.Step();
        var step = new TrainingStep(StepsCompleted, totalSteps, _epoch + 1, lossSum.item<float>() / accumulation, learningRate, norm, TokensSeen);
        TrainingDivergedException.ThrowIfNotFinite(step.Loss, step.Step, learningRate, "training loss");
        StepsCompleted++;
        _stepInEpoch++;
        return step;
    }

    private void Evaluate(NextTokenBatches train, NextTokenBatches validation, int epoch, double learningRate)
    {
        double trainLoss = LanguageModelLoss.Evaluate(Model, train, Options.EvaluationBatches);
        TrainingDivergedException.ThrowIfNotFinite(trainLoss, StepsCompleted - 1, learningRate, "evaluated training loss");
        double validationLoss = LanguageModelLoss.Evaluate(Model, validation, Options.EvaluationBatches);
        TrainingDivergedException.ThrowIfNotFinite(validationLoss, StepsCompleted - 1, learningRate, "validation loss");
        int[]? sample = Options.SamplePrompt is { } prompt ? new Gpt2Generator(Model).Generate(prompt, Options.SampleGeneration) : null;
        var evaluation = new TrainingEvaluation(StepsCompleted - 1, epoch, TokensSeen, trainLoss, validationLoss, sample);
        _evaluations.Add(evaluation);
        Evaluated?.Invoke(evaluation);
    }

    /// <summary>What a resumed run must be given again: the training batches' count, size, shuffling and seed.</summary>
    private sealed record DataShape(int Batches, int BatchSize, bool Shuffle, int Seed);

    /// <summary>The JSON part of a checkpoint.</summary>
    private sealed record State(int FormatVersion, long StepsCompleted, int Epoch, int StepInEpoch, long TokensSeen,
        DataShape? Data, LanguageModelTrainingOptions Options, TrainingEvaluation[] Evaluations)
    {
        public const int CurrentFormatVersion = 1;
    }
}
