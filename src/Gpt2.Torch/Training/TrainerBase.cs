using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// The lifecycle every trainer here shares (<see cref="LanguageModelTrainer"/>, <see cref="SequenceClassificationTrainer"/>,
/// <see cref="InstructionTrainer"/>): the constructor validates the options, chooses the trainable parameters
/// (<see cref="FineTuningOptions.TrainableLayers"/> and <see cref="FineTuningOptions.LoRA"/>), creates the one
/// training loop, and, with <see cref="TrainingOptions.ResumeFromCheckpoint"/>, continues the newest checkpoint
/// of <see cref="TrainingOptions.CheckpointDirectory"/>; <c>Train</c> runs the loop; <see cref="Dispose"/> frees the
/// optimizer state. The model stays the caller's.
/// </summary>
/// <typeparam name="TModel">The model trained.</typeparam>
/// <typeparam name="TOptions">The task's options.</typeparam>
public abstract class TrainerBase<TModel, TOptions> : IDisposable where TModel : nn.Module where TOptions : TrainingOptions
{
    private readonly TrainingLoop _loop;

    private protected TrainerBase(TModel model, TOptions options, Action<string>? saveModel = null, Action<string>? loadModel = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options is FineTuningOptions fineTuning)
            TrainableParameters.Choose(model, fineTuning);
        Model = model;
        Options = options;
        _loop = new TrainingLoop(model, options, saveModel, loadModel);
    }

    /// <summary>Raised every <see cref="TrainingOptions.LogInterval"/> optimizer steps and after the last, on the training thread; it may throw to stop the run.</summary>
    public event Action<TrainingStep>? StepCompleted
    {
        add => _loop.StepCompleted += value;
        remove => _loop.StepCompleted -= value;
    }

    /// <summary>Raised after every evaluation with the task's metrics (see the trainer's <c>Train</c>), on the training thread.</summary>
    public event Action<TrainingEvaluation>? Evaluated
    {
        add => _loop.Evaluated += value;
        remove => _loop.Evaluated -= value;
    }

    /// <summary>Raised after a checkpoint is written (and named in <c>latest</c>), with its folder, on the training thread.</summary>
    public event Action<string>? CheckpointSaved
    {
        add => _loop.CheckpointSaved += value;
        remove => _loop.CheckpointSaved -= value;
    }

    /// <summary>The model being trained; the caller owns it.</summary>
    public TModel Model { get; }

    /// <summary>How the run trains.</summary>
    public TOptions Options { get; }

    /// <summary>Optimizer steps taken so far, earlier sessions' included after a resume.</summary>
    public long StepsCompleted => _loop.StepsCompleted;

    /// <summary>Input tokens trained on so far, earlier sessions' included after a resume.</summary>
    public long TokensSeen => _loop.TokensSeen;

    /// <summary>Every evaluation of the run so far, earlier sessions' included after a resume.</summary>
    public IReadOnlyList<TrainingEvaluation> Evaluations => _loop.Evaluations;

    /// <summary>
    /// Writes a checkpoint of the run as it stands into <see cref="TrainingOptions.CheckpointDirectory"/>
    /// (see <see cref="TrainingCheckpoint"/>): the model, the optimizer's moments, the random generator's state, and the
    /// step, data position, options and evaluations. Training writes them by itself as the options say.
    /// </summary>
    /// <returns>The checkpoint folder.</returns>
    public string SaveCheckpoint() => _loop.SaveCheckpoint();

    /// <summary>Frees the optimizer's state; the model stays the caller's.</summary>
    public void Dispose()
    {
        _loop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs <paramref name="task"/> through the loop (see <see cref="TrainingLoop.Run{TBatch}"/>).</summary>
    private protected TrainingEvaluation Run<TBatch>(ITrainingTask<TBatch> task, CancellationToken cancellationToken) =>
        _loop.Run(task, cancellationToken);
}
