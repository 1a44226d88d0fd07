using System.Globalization;
using Gpt2.Torch.Training;
using Spectre.Console;

namespace Gpt2MLNet.Samples;

/// <summary>
/// Shows a training run's progress from its two events, StepCompleted and Evaluated (any trainer's, or the ML.NET
/// options'). On an interactive terminal, while <see cref="Run{T}"/> trains, a live display redrawn ten times a second:
/// a bar with what the run is doing (preparing, training, evaluating after the last step, done) and a row with the
/// step, epoch, loss, learning rate, tokens per second, elapsed time and time left, with each evaluation printed above
/// it in the book's form (and its sample, decoded). Elsewhere (output redirected to a log or CI, or events arriving
/// outside <see cref="Run{T}"/>): plain lines without ANSI codes or redraws, every evaluation, and a step line at the
/// first step, at the last, and at most once per step-line interval of training time in between.
/// </summary>
public sealed class ConsoleTrainingProgress
{
    private readonly Func<IReadOnlyList<int>, string>? _decode;
    private readonly IAnsiConsole _console;
    private readonly TimeSpan _stepLineInterval;
    private readonly Lock _gate = new();
    private LiveBar? _live; // while Run shows the live display
    private TrainingStep? _latest;
    private TimeSpan? _lastStepLine;

    /// <summary>Creates the display.</summary>
    /// <param name="decode">Turns sample token ids into text; samples are not shown without it.</param>
    /// <param name="console">Where to draw; <see cref="AnsiConsole.Console"/> (standard output) when null.</param>
    /// <param name="stepLineInterval">Without the live display, the least training time between two step lines; <see cref="DefaultStepLineInterval"/> when null.</param>
    public ConsoleTrainingProgress(Func<IReadOnlyList<int>, string>? decode = null, IAnsiConsole? console = null, TimeSpan? stepLineInterval = null)
    {
        _decode = decode;
        _console = console ?? AnsiConsole.Console;
        _stepLineInterval = stepLineInterval ?? DefaultStepLineInterval;
    }

    /// <summary>Without the live display, the least training time between two step lines: 10 seconds.</summary>
    public static TimeSpan DefaultStepLineInterval { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Subscribes the display to <paramref name="trainer"/>'s events.</summary>
    public void Attach(LanguageModelTrainer trainer)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        trainer.StepCompleted += OnStep;
        trainer.Evaluated += OnEvaluation;
    }

    /// <summary>
    /// Runs <paramref name="train"/> (which raises the events, on this thread or another) under the live display when the
    /// console is an interactive terminal, and as it is otherwise. The display stops, its last state left on screen,
    /// when <paramref name="train"/> returns or throws; nothing else may draw live on the console meanwhile.
    /// </summary>
    /// <returns>What <paramref name="train"/> returned.</returns>
    public T Run<T>(Func<T> train)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (!ConsolePhase.IsLive(_console))
            return train();
        return new Progress(_console)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 30 }, new PercentageColumn(), new SpinnerColumn())
            .UseRenderHook((bar, _) => Volatile.Read(ref _latest) is { } step ? new Rows(bar, Metrics(step)) : bar)
            .ExcludeVerticalPadding(true)
            .Start(context =>
            {
                lock (_gate)
                {
                    _latest = null;
                    ProgressTask bar = context.AddTask(State("Preparing"), maxValue: 1); // the first step tells the total
                    bar.IsIndeterminate = true;
                    _live = new LiveBar(context, bar);
                }
                try
                {
                    return train();
                }
                finally
                {
                    lock (_gate)
                        _live = null;
                }
            });
    }

    /// <summary>Runs <paramref name="train"/> as <see cref="Run{T}"/> does.</summary>
    public void Run(Action train)
    {
        ArgumentNullException.ThrowIfNull(train);
        Run(() =>
        {
            train();
            return 0;
        });
    }

    /// <summary>Shows the step: on the live display, or as a plain line when one is due.</summary>
    public void OnStep(TrainingStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        lock (_gate)
        {
            Volatile.Write(ref _latest, step);
            bool last = step.Step + 1 == step.TotalSteps;
            if (_live is { } live)
            {
                live.Bar.IsIndeterminate = false;
                live.Bar.MaxValue = step.TotalSteps;
                live.Bar.Value = step.Step + 1;
                // The loop evaluates after its last step; other evaluations are announced only by their results.
                live.Show(last ? "Evaluating" : "Training");
                return;
            }
            // A new run's clock starts again from zero.
            bool due = _lastStepLine is not TimeSpan previous || step.Elapsed < previous || step.Elapsed - previous >= _stepLineInterval;
            if (!due && !last)
                return;
            _lastStepLine = step.Elapsed;
            ConsolePhase.Plain(_console, StepLine(step));
        }
    }

    /// <summary>Writes the evaluation in the book's form, then its decoded sample on the next line.</summary>
    public void OnEvaluation(TrainingEvaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        string line = evaluation.ToString();
        string? sample = evaluation.Sample is { } ids && _decode is not null ? _decode(ids).Replace('\n', ' ') : null;
        lock (_gate)
        {
            if (_live is not { } live)
            {
                ConsolePhase.Plain(_console, line);
                if (sample is not null)
                    ConsolePhase.Plain(_console, sample);
                return;
            }
            _console.WriteLine(line);
            if (sample is not null)
                _console.WriteLine(sample, new Style(decoration: Decoration.Dim));
            if (_latest is { } step && evaluation.Step + 1 == step.TotalSteps)
            {
                live.Bar.StopTask();
                live.Show("Done");
            }
        }
    }

    /// <summary>A step as one plain line: <c>step 3/10  epoch 1  loss 0.512  lr 5.00e-05  1234.5 tok/s  00:00:12 elapsed  00:00:40 left</c>.</summary>
    public static string StepLine(TrainingStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        return string.Create(CultureInfo.InvariantCulture,
            $"step {step.Step + 1}/{step.TotalSteps}  epoch {step.Epoch}  loss {step.Loss:F3}  lr {step.LearningRate:0.00e+00}  {step.TokensPerSecond:F1} tok/s  {ConsolePhase.Clock(step.Elapsed)} elapsed  {ConsolePhase.Clock(step.Remaining)} left");
    }

    private static string State(string name) => $"[bold]{name}[/]";

    private static Grid Metrics(TrainingStep step)
    {
        var grid = new Grid();
        string[] names = ["Step", "Epoch", "Loss", "LR", "Tokens/s", "Elapsed", "ETA"];
        foreach (string _ in names)
            grid.AddColumn(new GridColumn().PadRight(2).NoWrap());
        grid.AddRow([.. names.Select(name => new Text(name, new Style(decoration: Decoration.Dim)))]);
        grid.AddRow([.. new[]
        {
            $"{step.Step + 1}/{step.TotalSteps}",
            step.Epoch.ToString(CultureInfo.InvariantCulture),
            step.Loss.ToString("F3", CultureInfo.InvariantCulture),
            step.LearningRate.ToString("0.00e+00", CultureInfo.InvariantCulture),
            step.TokensPerSecond.ToString("F1", CultureInfo.InvariantCulture),
            ConsolePhase.Clock(step.Elapsed),
            ConsolePhase.Clock(step.Remaining),
        }.Select(value => new Text(value))]);
        return grid;
    }

    /// <summary>The live display's one task, whose state (preparing, training...) is drawn as soon as it changes, the rest at the refresh rate.</summary>
    private sealed record LiveBar(ProgressContext Context, ProgressTask Bar)
    {
        public void Show(string state)
        {
            string description = State(state);
            if (Bar.Description == description)
                return;
            Bar.Description = description;
            Context.Refresh();
        }
    }
}
