using System.Diagnostics;
using Gpt2.Torch;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>
/// <c>--bench matmul</c>: a 1024x1024 matmul in float32 and in bfloat16, this machine's yardstick (the training rows
/// report their model FLOP/s as a fraction of it). Timed after a second of warm-up, so that the process's own start (JIT,
/// libtorch's thread pool, <c>dotnet run</c>'s build) does not count.
/// </summary>
internal sealed class MatmulBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    public const int Size = 1024;

    public void Run()
    {
        foreach (Precision precision in new[] { Precision.Float32, Precision.BFloat16 })
            Report("matmul", new { precision = Name(precision), size = Size, gflop_per_s = Math.Round(FlopsPerSecond(precision) / 1e9, 1) });
    }

    /// <summary>The 1024-cube matmul's FLOP/s in <paramref name="precision"/>.</summary>
    public double FlopsPerSecond(Precision precision, int iterations = 50)
    {
        using var scope = NewDisposeScope();
        ScalarType type = precision.ToScalarType();
        Tensor a = randn(Size, Size, device: Device).to(type), b = randn(Size, Size, device: Device).to(type);
        var warmUp = Stopwatch.StartNew();
        while (warmUp.Elapsed.TotalSeconds < 1)
            a.matmul(b).Dispose();
        Synchronize();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
            a.matmul(b).Dispose();
        Synchronize();
        return 2.0 * Size * Size * Size * iterations / clock.Elapsed.TotalSeconds;
    }
}
