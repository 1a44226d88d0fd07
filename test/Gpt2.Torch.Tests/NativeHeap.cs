using System.Diagnostics;

namespace Gpt2.Torch.Tests;

/// <summary>
/// The bytes that malloc has handed out and not had back: libtorch's tensors and everything else native. Unlike the RSS it
/// is not moved by the runtime's code and heap growing, nor by glibc keeping freed pages (NativeMemoryTuning asks it to).
/// </summary>
internal static class NativeHeap
{
    /// <summary>
    /// The least of a few readings: the test host's and the runtime's threads allocate for a moment too, and that
    /// must not count as the test's. A leak raises every reading.
    /// </summary>
    public static long FloorOfBytesInUse()
    {
        long floor = long.MaxValue;
        for (int reading = 0; reading < 5; reading++, Thread.Sleep(20))
            floor = Math.Min(floor, BytesInUse());
        return floor;
    }

    private static long BytesInUse()
    {
        try
        {
            MallInfo2 info = mallinfo2();
            return (long)(info.UordBlks + info.HBlkHd);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            using var process = Process.GetCurrentProcess();
            return process.WorkingSet64; // not glibc: the RSS is the measure left
        }
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6")]
    private static extern MallInfo2 mallinfo2();

#pragma warning disable CS0649 // fields written by mallinfo2
    private struct MallInfo2
    {
        public nuint Arena, OrdBlks, SmBlks, HBlks, HBlkHd, UsmBlks, FsmBlks, UordBlks, FordBlks, KeepCost;
    }
#pragma warning restore CS0649
}
