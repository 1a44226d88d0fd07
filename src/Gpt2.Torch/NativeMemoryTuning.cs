using System.Runtime.InteropServices;

namespace Gpt2.Torch;

/// <summary>
/// Makes glibc reuse freed memory for libtorch's large CPU tensors instead of returning it to the kernel.
/// </summary>
/// <remarks>
/// libtorch's CPU allocator has no cache: every tensor over glibc's mmap threshold (at most 32 MB; a 124M model's
/// logits, embedding gradient and optimizer temporaries are all larger) is mapped fresh and unmapped on free, so each
/// training step faults in gigabytes of new pages, a large share of the step time on a small CPU machine.
/// Serving large blocks from the heap and never trimming it keeps those pages (README's benchmarks give the gain).
/// The price is that the process keeps its peak native memory.
/// Applied once, on Linux with glibc, when the first <see cref="Model.Gpt2Model"/> is created;
/// set <c>GPT2MLNET_DEFAULT_MALLOC=1</c> to keep glibc's defaults.
/// </remarks>
internal static class NativeMemoryTuning
{
    private const int MallocTrimThreshold = -1;
    private const int MallocTopPad = -2;
    private const int MallocMmapMax = -4;

    private static readonly Lazy<bool> Applied = new(ApplyOnce);

    /// <summary>Whether the tuning is in effect in this process.</summary>
    public static bool IsApplied => Applied.Value;

    /// <summary>Applies the tuning if it applies here; calling again does nothing.</summary>
    public static void Apply() => _ = Applied.Value;

    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    private static bool ApplyOnce()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("GPT2MLNET_DEFAULT_MALLOC") == "1")
            return false;
        try
        {
            return MallOpt(MallocMmapMax, 0) == 1
                && MallOpt(MallocTrimThreshold, int.MaxValue) == 1
                && MallOpt(MallocTopPad, 256 << 20) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (musl, for example): nothing to tune
        }
    }
}
