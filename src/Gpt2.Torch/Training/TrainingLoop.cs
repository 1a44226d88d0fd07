using TorchSharp;
using System.Diagnostics;
using System.Text.Json;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.IO;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// The one training loop every task runs through (pretraining, classification and instruction tuning supply an
/// <see cref="ITrainingTask{TBatch}"/>): zero-grad, gradient accumulation, global-norm clipping, the learning-rate
/// schedule, bfloat16 mixed precision, evaluation cadence, cancellation, the divergence check, atomic checkpoints that
/// <see cref="Restore"/> continues exactly (the CPU generator's state is saved; on CUDA, where TorchSharp cannot save
/// the generator's state, each step reseeds it from the run's seed and the step), and the progress events
/// <see cref="StepCompleted"/> and <see cref="Evaluated"/>. The loss is read back from the device only every
/// <see cref="TrainingOptions.LogInterval"/> steps.
/// </summary>
internal sealed class TrainingLoop : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private const string OptimizerPrefix = "optimizer.";
    private const string RandomStateName = "random.cpu";

    private readonly nn.Module _model;
    private readonly Action<string> _saveModel;
    private readonly Action<string> _loadModel;
    private readonly AdamW _optimizer;
    private readonly List<TrainingEvaluation> _evaluations = [];
    private Tensor? _restoredRandomState; // a restored run's generator state, applied when training starts
    private MixedPrecision? _mixed; // while a bfloat16 run trains
    private string? _data;
    private int _epoch; // of the next step, from 0
    private int _stepInEpoch; // steps taken in that epoch
    private long _checkpointStep = -1;
    private bool _continuesCheckpointDirectory; // restored from it, or wrote to it: its checkpoints are this run's

    /// <summary>
    /// Creates the loop, with its optimizer over the model's trainable parameters (choose them first). With
    /// <see cref="TrainingOptions.ResumeFromCheckpoint"/> and a checkpoint in <see cref="TrainingOptions.CheckpointDirectory"/>,
    /// the model's weights and the run's state come from the newest checkpoint (see <see cref="Restore"/>).
    /// </summary>
    /// <param name="model">The model to train; the caller keeps owning it.</param>
    /// <param name="options">How to train.</param>
    /// <param name="saveModel">Writes the model into a checkpoint folder; by default its parameters by name in <see cref="WeightsFileName"/>.</param>
    /// <param name="loadModel">Reads what <paramref name="saveModel"/> wrote back into the model; by default <see cref="LoadWeights"/>.</param>
    /// <exception cref="InvalidOperationException">No parameter of the model is trainable.</exception>
    public TrainingLoop(nn.Module model, TrainingOptions options, Action<string>? saveModel = null, Action<string>? loadModel = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!model.parameters().Any(p => p.requires_grad))
            throw new InvalidOperationException(
                "No parameter of the model is trainable, so there is nothing to train; choose trainable layers (a fine-tuning option's TrainableLayers or LoRA) before training.");
        _model = model;
        _saveModel = saveModel ?? (folder => SaveWeights(model, Path.Combine(folder, WeightsFileName)));
        _loadModel = loadModel ?? (folder => LoadWeights(model, folder));
        Options = options;
        _optimizer = new AdamW(model.named_parameters(), options.LearningRate, options.WeightDecay);
        _checkpointStep = 0;
        if (options.ResumeFromCheckpoint && TrainingCheckpoint.Exists(options.CheckpointDirectory!))
        {
            try
            {
                string folder = TrainingCheckpoint.Locate(options.CheckpointDirectory!);
                RequireSameOptions(folder);
                _loadModel(folder);
                Restore(folder);
            }
            catch
            {
                Dispose();
                throw;
            }
        }
    }

    /// <summary>The model's parameters in a checkpoint written with the default model writer.</summary>
    public const string WeightsFileName = "weights.safetensors";

    /// <summary>Raised every <see cref="TrainingOptions.LogInterval"/> optimizer steps and after the last, on the training thread.</summary>
    public event Action<TrainingStep>? StepCompleted;

    /// <summary>Raised after every evaluation, on the training thread.</summary>
    public event Action<TrainingEvaluation>? Evaluated;

    /// <summary>Raised after a checkpoint is written (and named in <c>latest</c>), with its folder, on the training thread.</summary>
    public event Action<string>? CheckpointSaved;

    /// <summary>How the run trains.</summary>
    public TrainingOptions Options { get; }

    /// <summary>Optimizer steps taken so far.</summary>
    public long StepsCompleted { get; private set; }

    /// <summary>Input tokens trained on so far.</summary>
    public long TokensSeen { get; private set; }

    /// <summary>Every evaluation of the run so far, earlier sessions' included after <see cref="Restore"/>.</summary>
    public IReadOnlyList<TrainingEvaluation> Evaluations => _evaluations;

    /// <summary>
    /// Continues the run saved in checkpoint folder <paramref name="folder"/>: optimizer state, step, data position,
    /// random state and evaluations. The model's weights are the caller's to load first (with the model's own format, or
    /// <see cref="LoadWeights"/>); the next <see cref="Run{TBatch}"/> must be given the same data. Trainers do both
    /// through <see cref="TrainingOptions.ResumeFromCheckpoint"/>.
    /// </summary>
    public void Restore(string folder)
    {
        State state = ReadState(folder);
        using (var tensors = SafetensorsFile.Open(Path.Combine(folder, TrainingCheckpoint.TrainingTensorsFileName)))
        using (var scope = NewDisposeScope())
        {
            var moments = tensors.Tensors.Keys.Where(name => name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                .ToDictionary(name => name[OptimizerPrefix.Length..], tensors.ReadTensor);
            _optimizer.LoadState(moments, state.StepsCompleted);
            _restoredRandomState?.Dispose();
            _restoredRandomState = tensors.ReadTensor(RandomStateName).DetachFromDisposeScope();
        }
        StepsCompleted = _checkpointStep = state.StepsCompleted;
        _continuesCheckpointDirectory = Options.CheckpointDirectory is string directory
            && Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar) == Path.GetDirectoryName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar));
        TokensSeen = state.TokensSeen;
        _epoch = state.Epoch;
        _stepInEpoch = state.StepInEpoch;
        _data = state.Data;
        _evaluations.Clear();
        _evaluations.AddRange(state.Evaluations);
    }

    /// <summary>The options a checkpoint folder's run was trained with, as <typeparamref name="TOptions"/>.</summary>
    public static TOptions ReadOptions<TOptions>(string folder) where TOptions : TrainingOptions =>
        ReadState(folder).Options.Deserialize<TOptions>(Json)
            ?? throw new InvalidDataException($"{folder}: {TrainingCheckpoint.StateFileName} holds no options.");

    /// <summary>
    /// Trains until the last epoch (or <see cref="TrainingOptions.MaxSteps"/>) is done, evaluating as the options say and
    /// after the last step, and checkpointing as configured. Cancellation stops before the next step, writes a
    /// checkpoint of the steps taken (when checkpoints are on) and throws <see cref="OperationCanceledException"/>.
    /// The model leaves in the mode it came in, and in float32.
    /// </summary>
    /// <returns>The evaluation after the last step.</returns>
    /// <exception cref="TrainingDivergedException">A training or evaluation loss was NaN or infinite (checked where it is read back anyway).</exception>
    public TrainingEvaluation Run<TBatch>(ITrainingTask<TBatch> task, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(task);
        int accumulation = Options.GradientAccumulationSteps;
        if (task.BatchesPerEpoch < accumulation)
            throw new ArgumentException(
                $"The training data give {task.BatchesPerEpoch} batches per epoch, fewer than the {accumulation} that one step accumulates; use more data, smaller batches or fewer accumulation steps.",
                nameof(task));
        if (_data is not null && _data != task.DataDescription)
            throw new ArgumentException(
                $"The training data differ from the run's ({_data}), being {task.DataDescription}; pass the same data, batch size, shuffling and seed to continue it exactly.",
                nameof(task));

        int stepsPerEpoch = task.BatchesPerEpoch / accumulation;
        long totalSteps = Math.Min((long)Options.Epochs * stepsPerEpoch, Options.MaxSteps ?? long.MaxValue);
        if (Options.CosineDecay && totalSteps <= Options.WarmupSteps)
            throw new ArgumentException(
                $"The run has {totalSteps} steps, no more than its {Options.WarmupSteps} warmup steps, so the cosine decay has no step left; lower WarmupSteps or turn CosineDecay off.");
        if (StepsCompleted >= totalSteps)
            throw new InvalidOperationException($"The run has taken all its {totalSteps} steps already; start a new one to train further.");
        LearningRateSchedule schedule = Options.Schedule(totalSteps);
        _data = task.DataDescription;

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

        Device device;
        using (NewDisposeScope())
            device = _model.parameters().First().device;
        int logInterval = Options.LogInterval ?? (device.type == DeviceType.CPU ? 1 : 10);
        var session = new Session(Stopwatch.StartNew(), StepsCompleted, TokensSeen, totalSteps);
        IEnumerator<TBatch>? batches = null;
        bool wasTraining = _model.training;
        _model.train(); // evaluations switch dropout off and back on
        if (Options.Precision == Precision.BFloat16)
        {
            _mixed = new MixedPrecision(_model);
            _optimizer.Retarget(_mixed.Masters);
        }
        using Tensor lossSinceReport = zeros(1, device: device).DetachFromDisposeScope();
        using Tensor lossSinceEvaluation = zeros(1, device: device).DetachFromDisposeScope();
        Tensor? gradientNorm = null;
        int stepsSinceReport = 0, stepsSinceEvaluation = 0;
        bool? tf32Before = null;
        if (device.type == DeviceType.CUDA && Options.Precision == Precision.Float32)
        {
            tf32Before = backends.cuda.matmul.allow_tf32;
            backends.cuda.matmul.allow_tf32 = Options.AllowTF32;
        }
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
                batches ??= task.Batches(_epoch, _stepInEpoch * accumulation).GetEnumerator();
                long step = StepsCompleted;
                int epoch = _epoch + 1;
                double learningRate = schedule.LearningRateAt(step);
                if (device.type == DeviceType.CUDA)
                    cuda.manual_seed_all(CudaSeed(Options.Seed, step));
                using (var scope = NewDisposeScope())
                {
                    (Tensor loss, Tensor? norm) = TakeStep(task, batches, accumulation, learningRate, device);
                    lossSinceReport.add_(loss);
                    lossSinceEvaluation.add_(loss);
                    if (norm is not null)
                    {
                        gradientNorm?.Dispose();
                        gradientNorm = norm.DetachFromDisposeScope();
                    }
                }
                stepsSinceReport++;
                stepsSinceEvaluation++;
                StepsCompleted++;
                _stepInEpoch++;
                bool endOfEpoch = _stepInEpoch == stepsPerEpoch;
                if (endOfEpoch)
                {
                    (_epoch, _stepInEpoch) = (_epoch + 1, 0);
                    batches.Dispose();
                    batches = null;
                }

                bool last = StepsCompleted == totalSteps;
                bool evaluate = last || Options.EvaluatesAfter(step, endOfEpoch);
                if (last || evaluate || stepsSinceReport >= logInterval)
                {
                    using var reportScope = NewDisposeScope(); // zero_ hands back a tensor to dispose
                    // The step's one synchronisation: its loss (and gradient norm) read back at the logging cadence.
                    double meanLoss = lossSinceReport.item<float>() / (accumulation * stepsSinceReport);
                    TrainingDivergedException.ThrowIfNotFinite(meanLoss, step, learningRate, "training loss");
                    double? normRead = gradientNorm is null ? null : gradientNorm.item<float>();
                    lossSinceReport.zero_();
                    stepsSinceReport = 0;
                    StepCompleted?.Invoke(session.Report(new TrainingStep(step, totalSteps, epoch, meanLoss, learningRate, normRead, TokensSeen), StepsCompleted, TokensSeen));
                }
                if (evaluate)
                {
                    using var evaluationScope = NewDisposeScope();
                    double trainingLoss = lossSinceEvaluation.item<float>() / (accumulation * stepsSinceEvaluation);
                    lossSinceEvaluation.zero_();
                    stepsSinceEvaluation = 0;
                    Evaluate(task, step, epoch, learningRate, trainingLoss, session);
                }
                if (Options.CheckpointDirectory is not null && (last || CheckpointsAfter(evaluate)))
                    SaveCheckpoint();
            }
        }
        finally
        {
            if (tf32Before is bool before)
                backends.cuda.matmul.allow_tf32 = before;
            batches?.Dispose();
            gradientNorm?.Dispose();
            if (_mixed is not null)
            {
                _mixed.ToFloat32();
                _optimizer.Retarget(_model.named_parameters());
                _mixed.Dispose();
                _mixed = null;
            }
            _model.train(wasTraining);
        }
        return _evaluations[^1];
    }

    /// <summary>
    /// Writes a checkpoint of the run as it stands into <see cref="TrainingOptions.CheckpointDirectory"/> (see
    /// <see cref="TrainingCheckpoint"/>): the model (float32, also in a bfloat16 run), the optimizer's moments, the random
    /// generator's state, and the step, data position, options and evaluations.
    /// </summary>
    /// <returns>The checkpoint folder.</returns>
    public string SaveCheckpoint()
    {
        string directory = Options.CheckpointDirectory
            ?? throw new InvalidOperationException("Set the options' CheckpointDirectory to write checkpoints.");
        var state = new State(State.CurrentFormatVersion, StepsCompleted, _epoch, _stepInEpoch, TokensSeen, _data,
            JsonSerializer.SerializeToElement(Options, Options.GetType(), Json), [.. _evaluations]);
        _mixed?.ToFloat32();
        try
        {
            bool replacesEarlierRun = !_continuesCheckpointDirectory;
            string folder = TrainingCheckpoint.Commit(directory, StepsCompleted, Options.KeepCheckpoints, replacesEarlierRun: replacesEarlierRun, write: temporary =>
            {
                Directory.CreateDirectory(temporary);
                _saveModel(temporary);
                using var scope = NewDisposeScope();
                List<(string, Tensor)> tensors = [.. _optimizer.StateTensors().Select(t => (OptimizerPrefix + t.Name, t.Tensor))];
                tensors.Add((RandomStateName, _restoredRandomState ?? get_rng_state()));
                SafetensorsWriter.Write(Path.Combine(temporary, TrainingCheckpoint.TrainingTensorsFileName), tensors);
                AtomicFile.WriteAllText(Path.Combine(temporary, TrainingCheckpoint.StateFileName), JsonSerializer.Serialize(state, Json));
            });
            _checkpointStep = StepsCompleted;
            _continuesCheckpointDirectory = true;
            CheckpointSaved?.Invoke(folder);
            return folder;
        }
        finally
        {
            _mixed?.ToWorking();
        }
    }

    /// <summary>Writes <paramref name="model"/>'s parameters by name to a safetensors file (the default checkpoint model format).</summary>
    public static void SaveWeights(nn.Module model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        SafetensorsWriter.Write(path, [.. model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))]);
    }

    /// <summary>
    /// Loads parameters written by <see cref="SaveWeights"/> (from a checkpoint folder, or the newest checkpoint of a
    /// checkpoint directory) into <paramref name="model"/>, which must have the same names and shapes.
    /// </summary>
    /// <returns>The checkpoint folder they came from.</returns>
    public static string LoadWeights(nn.Module model, string checkpoint)
    {
        ArgumentNullException.ThrowIfNull(model);
        string folder = TrainingCheckpoint.Locate(checkpoint);
        using var file = SafetensorsFile.Open(Path.Combine(folder, WeightsFileName));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach ((string name, Parameter parameter) in model.named_parameters())
        {
            if (!file.Tensors.ContainsKey(name))
                throw new InvalidDataException($"{folder}: the checkpoint has no parameter '{name}'; it was written for another model (other layers, adapters or classes).");
            Tensor saved = file.ReadTensor(name);
            if (!saved.shape.SequenceEqual(parameter.shape))
                throw new InvalidDataException($"{folder}: parameter '{name}' is [{string.Join(", ", saved.shape)}] there, [{string.Join(", ", parameter.shape)}] in the model; it was written for another model.");
            parameter.copy_(saved);
        }
        return folder;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer.Dispose();
        _restoredRandomState?.Dispose();
    }

    // One optimizer step; the step's summed micro-batch losses and its gradient norm stay on the device.
    private (Tensor LossSum, Tensor? Norm) TakeStep<TBatch>(ITrainingTask<TBatch> task, IEnumerator<TBatch> batches, int accumulation, double learningRate, Device device)
    {
        TrainingPhases.End(TrainingPhase.Start);
        foreach (Parameter parameter in _model.parameters())
            parameter.grad?.zero_();
        Tensor lossSum = zeros(1, device: device);
        TrainingPhases.End(TrainingPhase.ZeroGradients);
        for (int micro = 0; micro < accumulation; micro++)
        {
            // Each batch's activations go as soon as its gradient is in: accumulation exists to save that memory.
            using var batchScope = NewDisposeScope();
            if (!batches.MoveNext())
                throw new InvalidOperationException("The training batches ended before the epoch's steps did.");
            (Tensor loss, long tokens) = task.Loss(batches.Current);
            TrainingPhases.End(TrainingPhase.Loss);
            // Each batch's mean loss weighs 1/k, so k accumulated batches give the gradient of one k-times larger batch.
            (loss / accumulation).backward();
            lossSum.add_(loss.detach());
            TokensSeen += tokens;
            TrainingPhases.End(TrainingPhase.Backward);
        }
        _mixed?.GradientsToMasters();
        TrainingPhases.End(TrainingPhase.GradientsToMasters);
        Tensor? norm = Options.MaxGradientNorm is double max ? GradientClipping.ClipGlobalNormOnDevice(_optimizer.Parameters, max) : null;
        TrainingPhases.End(TrainingPhase.Clipping);
        _optimizer.LearningRate = learningRate;
        _optimizer.Step();
        TrainingPhases.End(TrainingPhase.Optimizer);
        _mixed?.RefreshWorking();
        TrainingPhases.End(TrainingPhase.RefreshWorking);
        return (lossSum, norm);
    }

    // At every evaluation (nanoGPT's cadence), or every CheckpointInterval steps when that is set.
    private bool CheckpointsAfter(bool evaluated) =>
        Options.CheckpointInterval is int interval ? StepsCompleted % interval == 0 : evaluated;

    /// <summary>The options that leave the run's results as they are (where and how often to checkpoint or report): they may differ on resume.</summary>
    private static readonly HashSet<string> OperationalOptions =
    [
        nameof(TrainingOptions.CheckpointDirectory), nameof(TrainingOptions.CheckpointInterval), nameof(TrainingOptions.KeepCheckpoints),
        nameof(TrainingOptions.ResumeFromCheckpoint), nameof(TrainingOptions.LogInterval),
    ];

    // A resumed run continues the checkpoint's run exactly only with its options; other ones would silently make another run.
    private void RequireSameOptions(string folder)
    {
        JsonElement saved = ReadState(folder).Options;
        JsonElement current = JsonSerializer.SerializeToElement(Options, Options.GetType(), Json);
        List<string> differences = [];
        foreach (JsonProperty option in current.EnumerateObject())
        {
            if (OperationalOptions.Contains(option.Name))
                continue;
            if (!saved.TryGetProperty(option.Name, out JsonElement was))
            {
                if (option.Value.ValueKind != JsonValueKind.Null) // an option newer than the checkpoint, left unset, changes nothing
                    differences.Add($"{option.Name} is {Compact(option.Value)} here and not in the checkpoint");
            }
            else if (!JsonElement.DeepEquals(was, option.Value))
                differences.Add($"{option.Name} is {Compact(option.Value)} here, {Compact(was)} in the checkpoint");
        }
        if (differences.Count > 0)
            throw new ArgumentException(
                $"{folder} was trained with other options ({string.Join("; ", differences)}), so resuming would not continue that run; " +
                $"resume with the checkpoint's options (TrainingCheckpoint.ReadOptions reads them), or start a new run in another CheckpointDirectory.",
                nameof(TrainingOptions.ResumeFromCheckpoint));
    }

    private static string Compact(JsonElement value) => JsonSerializer.Serialize(value);

    /// <summary>
    /// The CUDA generators' seed for a step. TorchSharp 0.107 cannot read or restore a CUDA generator's state (only the
    /// CPU one's, which checkpoints save), so on CUDA each step reseeds them from the run's seed and the step: dropout on
    /// the GPU is then a function of (seed, step), and a resumed run draws what the uninterrupted one drew.
    /// </summary>
    private static long CudaSeed(int seed, long step) => (long)seed * 1_000_003 + step;

    private void Evaluate<TBatch>(ITrainingTask<TBatch> task, long step, int epoch, double learningRate, double trainingLoss, Session session)
    {
        IReadOnlyDictionary<string, double> metrics;
        int[]? sample;
        using (var inference = new Model.InferenceScope(_model))
        using (var scope = NewDisposeScope())
            (metrics, sample) = task.Evaluate(trainingLoss);
        foreach ((string name, double value) in metrics)
            if (name.EndsWith("_loss", StringComparison.Ordinal))
                TrainingDivergedException.ThrowIfNotFinite(value, step, learningRate, name.Replace('_', ' '));
        var evaluation = new TrainingEvaluation(step, epoch, TokensSeen, metrics, sample) { Elapsed = session.Clock.Elapsed };
        _evaluations.Add(evaluation);
        Evaluated?.Invoke(evaluation);
    }

    private static State ReadState(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        State state = JsonSerializer.Deserialize<State>(File.ReadAllText(Path.Combine(folder, TrainingCheckpoint.StateFileName)), Json)
            ?? throw new InvalidDataException($"{folder}: {TrainingCheckpoint.StateFileName} is empty.");
        if (state.FormatVersion != State.CurrentFormatVersion)
            throw new InvalidDataException(
                $"{folder}: checkpoint format {state.FormatVersion} is not the supported {State.CurrentFormatVersion}; continue it with the version that wrote it, or start the run again.");
        return state;
    }

    /// <summary>Timing of one call of <see cref="Run{TBatch}"/>: elapsed time, speed and time left.</summary>
    private sealed record Session(Stopwatch Clock, long FirstStep, long FirstTokens, long TotalSteps)
    {
        public TrainingStep Report(TrainingStep step, long stepsCompleted, long tokensSeen)
        {
            TimeSpan elapsed = Clock.Elapsed;
            double seconds = Math.Max(elapsed.TotalSeconds, 1e-9);
            long stepsTaken = stepsCompleted - FirstStep;
            return step with
            {
                Elapsed = elapsed,
                TokensPerSecond = (tokensSeen - FirstTokens) / seconds,
                Remaining = TimeSpan.FromSeconds(seconds / stepsTaken * (TotalSteps - stepsCompleted)),
            };
        }
    }

    /// <summary>The JSON part of a checkpoint.</summary>
    private sealed record State(int FormatVersion, long StepsCompleted, int Epoch, int StepInEpoch, long TokensSeen,
        string? Data, JsonElement Options, TrainingEvaluation[] Evaluations)
    {
        public const int CurrentFormatVersion = 2;
    }
}
