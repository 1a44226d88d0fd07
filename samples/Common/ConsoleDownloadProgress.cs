using System.Diagnostics;
using Gpt2.Torch.Downloads;

namespace Gpt2MLNet.Samples;

/// <summary>Draws a download's progress on standard error: a bar, megabytes, and speed, a few times a second.</summary>
public sealed class ConsoleDownloadProgress : IProgress<DownloadProgress>
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TextWriter _output;
    private TimeSpan? _lastDrawn;

    /// <summary>Draws on <paramref name="output"/>, standard error when null.</summary>
    public ConsoleDownloadProgress(TextWriter? output = null)
    {
        _output = output ?? Console.Error;
    }

    /// <inheritdoc />
    public void Report(DownloadProgress value)
    {
        bool done = value.TotalBytes is long total && value.BytesReceived >= total;
        if (!done && _lastDrawn is TimeSpan last && _clock.Elapsed - last < TimeSpan.FromMilliseconds(250))
            return;
        _lastDrawn = _clock.Elapsed;
        double megabytes = value.BytesReceived / 1e6;
        double speed = megabytes / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
        string line = value.TotalBytes is long size && size > 0
            ? $"{Bar(value.BytesReceived / (double)size)} {megabytes,8:F1} / {size / 1e6:F1} MB  {speed,6:F1} MB/s  {value.FileName}"
            : $"{megabytes,8:F1} MB  {speed,6:F1} MB/s  {value.FileName}";
        _output.Write($"\r{line}");
        if (done)
            _output.WriteLine();
    }

    private static string Bar(double fraction)
    {
        const int width = 30;
        int filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * width);
        return $"[{new string('#', filled)}{new string('.', width - filled)}] {fraction,4:P0}";
    }
}
