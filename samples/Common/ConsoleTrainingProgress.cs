using System.Diagnostics;
using System.Globalization;
using Gpt2.Torch.Training;

namespace Gpt2MLNet.Samples;

/// <summary>
/// Shows a <see cref="LanguageModelTrainer"/>'s progress: each evaluation as the book's line (and its sample, decoded),
/// and, on an interactive terminal, a status line redrawn in place with step, loss, learning rate, speed and time left.
/// When standard error is redirected the status line is left out, so logs hold only the evaluation lines.
/// </summary>
public sealed class ConsoleTrainingProgress
{
    private readonly Func<IReadOnlyList<int>, string>? _decode;
    private readonly TextWriter _output;
    private readonly TextWriter? _status;
    private readonly Stopwatch _clock = new();
    private TimeSpan? _lastDrawn;
    private long _firstStep = -1, _firstTokens;
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
        if (_firstStep < 0)
        {
            (_firstStep, _firstTokens) = (step.Step, step.TokensSeen);
            _clock.Start();
        }
        bool last = step.Step + 1 == step.TotalSteps;
        if (!last && _clock.Elapsed - _lastDrawn < TimeSpan.FromMilliseconds(250))
            return;
        _lastDrawn = _clock.Elapsed;
        double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
        long stepsTimed = step.Step - _firstStep;
        string speed = stepsTimed > 0 ? $"{(step.TokensSeen - _firstTokens) / seconds,8:F1} tok/s" : "";
        string left = stepsTimed > 0 ? $"  {TimeSpan.FromSeconds(seconds / stepsTimed * (step.TotalSteps - step.Step - 1)):hh\\:mm\\:ss} left" : "";
        string line = string.Create(CultureInfo.InvariantCulture,
            $"step {step.Step + 1}/{step.TotalSteps}  epoch {step.Epoch}  loss {step.Loss:F3}  lr {step.LearningRate:0.00e+00}{speed}{left}");
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
