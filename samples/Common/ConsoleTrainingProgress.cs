using System.Diagnostics;
using System.Globalization;
using Gpt2.Torch.Training;

namespace Gpt2MLNet.Samples;

/// <summary>
/// Shows a training run's progress (the <see cref="TrainingLoop"/>'s two events, from any trainer or the ML.NET options):
/// each evaluation as the book's line with its metrics (and a sample, decoded), and, on an interactive terminal, a status
/// line redrawn in place with step, loss, learning rate, tokens per second, elapsed time and time left.
/// When standard error is redirected the status line is left out, so logs hold only the evaluation lines.
/// </summary>
public sealed class ConsoleTrainingProgress
{
    private readonly Func<IReadOnlyList<int>, string>? _decode;
    private readonly TextWriter _output;
    private readonly TextWriter? _status;
    private readonly Stopwatch _clock = Stopwatch.StartNew(); // paces the redraws
    private TimeSpan? _lastDrawn;
    private int _statusWidth;

    /// <summary>Creates the display.</summary>
    /// <param name="decode">Turns sample token ids into text; samples are not shown without it.</param>
    /// <param name="output">Where evaluation lines go; standard output when null.</param>
    /// <param name="status">Where the status line is drawn; standard error when it is a terminal, otherwise nowhere, when null.</param>
    public ConsoleTrainingProgress(Func<IReadOnlyList<int>, string>? decode = null, TextWriter? output = null, TextWriter? status = null)
    {
        _decode = decode;
        _output = output ?? Console.Out;
        _status = status ?? (Console.IsErrorRedirected ? null : Console.Error);
    }

    /// <summary>Subscribes the display to <paramref name="trainer"/>'s events.</summary>
    public void Attach(LanguageModelTrainer trainer)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        trainer.StepCompleted += OnStep;
        trainer.Evaluated += OnEvaluation;
    }

    /// <summary>Redraws the status line, at most four times a second and always at the last step.</summary>
    public void OnStep(TrainingStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (_status is null)
            return;
        bool last = step.Step + 1 == step.TotalSteps;
        if (!last && _clock.Elapsed - _lastDrawn < TimeSpan.FromMilliseconds(250))
            return;
        _lastDrawn = _clock.Elapsed;
        string line = string.Create(CultureInfo.InvariantCulture,
            $"step {step.Step + 1}/{step.TotalSteps}  epoch {step.Epoch}  loss {step.Loss:F3}  lr {step.LearningRate:0.00e+00}  {step.TokensPerSecond,8:F1} tok/s  {step.Elapsed:hh\\:mm\\:ss} elapsed  {step.Remaining:hh\\:mm\\:ss} left");
        _status.Write($"\r{line.PadRight(_statusWidth)}");
        _statusWidth = line.Length;
        _status.Flush();
    }

    /// <summary>Writes the evaluation in the book's form, then its sample on the next line.</summary>
    public void OnEvaluation(TrainingEvaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        ClearStatus();
        _output.WriteLine(evaluation.ToString());
        if (evaluation.Sample is { } sample && _decode is not null)
            _output.WriteLine(_decode(sample).Replace('\n', ' '));
        _output.Flush();
    }

    private void ClearStatus()
    {
        if (_status is null || _statusWidth == 0)
            return;
        _status.Write($"\r{new string(' ', _statusWidth)}\r");
        _statusWidth = 0;
        _status.Flush();
        _lastDrawn = null;
    }
}
