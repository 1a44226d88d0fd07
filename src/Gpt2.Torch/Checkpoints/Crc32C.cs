using System.Numerics;
using System.Runtime.InteropServices;

namespace Gpt2.Torch.Checkpoints;

/// <summary>CRC-32C (Castagnoli), the checksum of LevelDB tables and TensorFlow checkpoints, on the CPU's CRC instruction.</summary>
internal static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = uint.MaxValue;
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong word in words)
            crc = BitOperations.Crc32C(crc, word);
        foreach (byte value in data[(words.Length * sizeof(ulong))..])
            crc = BitOperations.Crc32C(crc, value);
        return ~crc;
    }

    /// <summary>The stored form: rotated and offset, so that the CRC of data that itself holds CRCs stays well distributed.</summary>
    public static uint Mask(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8;
}
