namespace Gpt2.Torch.Training;

/// <summary>The parts of a <see cref="TrainingLoop"/> step, in the order they run.</summary>
internal enum TrainingPhase
{
    /// <summary>The step begins (nothing has run yet).</summary>
    Start,

    /// <summary>The gradients are set to zero.</summary>
    ZeroGradients,

    /// <summary>The model's forward pass (marked by tasks that can tell it from their loss).</summary>
    Forward,

    /// <summary>The task's loss from the forward pass's output.</summary>
    Loss,

    /// <summary>Backward through the loss.</summary>
    Backward,

    /// <summary>A bfloat16 run's working gradients taken into the float32 masters.</summary>
    GradientsToMasters,

    /// <summary>Global-norm gradient clipping.</summary>
    Clipping,

    /// <summary>The AdamW update.</summary>
    Optimizer,

    /// <summary>A bfloat16 run's working copy refreshed from the updated masters; the step's end.</summary>
    RefreshWorking,
}

/// <summary>
/// Where the benchmarks watch a training step from: an observer set on the training thread is told as each phase of a
/// step ends (on a GPU it synchronises to time them). Null, the default, costs one thread-static read per phase.
/// </summary>
internal static class TrainingPhases
{
    [ThreadStatic]
    private static Action<TrainingPhase>? t_observer;

    /// <summary>The current thread's observer, or null.</summary>
    public static Action<TrainingPhase>? Observer
    {
        get => t_observer;
        set => t_observer = value;
    }

    /// <summary>Tells the observer, if any, that <paramref name="phase"/> has ended.</summary>
    public static void End(TrainingPhase phase) => t_observer?.Invoke(phase);
}
