using System.Buffers.Binary;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// Reads a LevelDB-format table (TensorFlow's <c>table_format.md</c>), the layout of a checkpoint's <c>.index</c>
/// file: data blocks of prefix-compressed key/value entries, an index block of handles to them, and a 48-byte
/// footer with the index block's handle and a magic number. Every block's CRC-32C is checked.
/// </summary>
internal static class SortedStringTable
{
    public const ulong MagicNumber = 0xdb4775248b80fb57;
    private const int FooterSize = 48, BlockTrailerSize = 5;

    /// <summary>Every entry in key order; malformed tables throw <see cref="InvalidDataException"/>.</summary>
    public static List<(byte[] Key, byte[] Value)> ReadAll(byte[] table, int maxEntries)
    {
        if (table.Length < FooterSize)
            throw new InvalidDataException($"truncated: {table.Length} bytes, fewer than the table's {FooterSize}-byte footer.");
        ReadOnlySpan<byte> footer = table.AsSpan(table.Length - FooterSize);
        ulong magic = BinaryPrimitives.ReadUInt64LittleEndian(footer[40..]);
        if (magic != MagicNumber)
            throw new InvalidDataException($"the footer's magic number is 0x{magic:x16}, not 0x{MagicNumber:x16}: this is not a TensorFlow checkpoint index, or it is truncated.");
        var handles = new ProtobufReader(footer[..40]);
        ReadHandle(ref handles); // the metaindex block: TensorFlow writes it empty
        ReadOnlySpan<byte> index = Block(table, ReadHandle(ref handles), "index");

        var entries = new List<(byte[] Key, byte[] Value)>();
        foreach ((_, byte[] handleBytes) in ParseBlock(index, "index", int.MaxValue, 0))
        {
            var handle = new ProtobufReader(handleBytes);
            foreach ((byte[] key, byte[] value) in ParseBlock(Block(table, ReadHandle(ref handle), "data"), "data", maxEntries, entries.Count))
            {
                if (entries.Count > 0 && entries[^1].Key.AsSpan().SequenceCompareTo(key) >= 0)
                    throw new InvalidDataException($"key '{System.Text.Encoding.UTF8.GetString(key)}' is out of order or appears twice.");
                entries.Add((key, value));
            }
        }
        return entries;
    }

    private static (ulong Offset, ulong Size) ReadHandle(ref ProtobufReader reader) => (reader.ReadVarint(), reader.ReadVarint());

    private static ReadOnlySpan<byte> Block(byte[] table, (ulong Offset, ulong Size) handle, string kind)
    {
        ulong end = (ulong)(table.Length - FooterSize);
        if (handle.Offset > end || handle.Size > end - handle.Offset || BlockTrailerSize > end - handle.Offset - handle.Size)
            throw new InvalidDataException($"the {kind} block [{handle.Offset}, +{handle.Size}) runs past the end of the table ({end} bytes before the footer); the file is truncated or corrupt.");
        int offset = (int)handle.Offset, size = (int)handle.Size;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(table.AsSpan(offset + size + 1, 4));
        if (Crc32C.Mask(Crc32C.Compute(table.AsSpan(offset, size + 1))) != stored)
            throw new InvalidDataException($"the {kind} block at byte {offset} fails its CRC-32C check; the file is corrupt.");
        if (table[offset + size] != 0)
            throw new InvalidDataException($"the {kind} block at byte {offset} is compressed (type {table[offset + size]}); only uncompressed tables, which TensorFlow writes for checkpoints, are supported.");
        return table.AsSpan(offset, size);
    }

    private static List<(byte[] Key, byte[] Value)> ParseBlock(ReadOnlySpan<byte> block, string kind, int maxEntries, int alreadyRead)
    {
        if (block.Length < 4)
            throw new InvalidDataException($"a {kind} block of {block.Length} bytes is too short for its restart count.");
        uint restarts = BinaryPrimitives.ReadUInt32LittleEndian(block[^4..]);
        if (restarts == 0 || restarts > (uint)(block.Length - 4) / 4)
            throw new InvalidDataException($"a {kind} block declares {restarts} restart points, which do not fit its {block.Length} bytes.");

        var entries = new List<(byte[] Key, byte[] Value)>();
        var reader = new ProtobufReader(block[..(block.Length - 4 - 4 * (int)restarts)]);
        byte[] key = [];
        while (!reader.AtEnd)
        {
            if (alreadyRead + entries.Count == maxEntries)
                throw new InvalidDataException($"the table holds more than {maxEntries} entries.");
            int shared = reader.ReadLength(), unshared = reader.ReadLength(), valueLength = reader.ReadLength();
            if (shared > key.Length)
                throw new InvalidDataException($"a {kind} block entry shares {shared} bytes with a key of {key.Length}.");
            key = [.. key.AsSpan(0, shared), .. reader.ReadBytes(unshared)];
            entries.Add((key, reader.ReadBytes(valueLength).ToArray()));
        }
        return entries;
    }
}
