using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using Gpt2.Torch.Checkpoints;

namespace Gpt2.Torch.Tests;

/// <summary>One BundleEntryProto as the test writes it; tests alter fields to build broken checkpoints.</summary>
internal sealed record TestBundleEntry(string Name, long[] Shape, long Offset, long Size, uint MaskedCrc, int DataType = 1, int Shard = 0,
    bool Sliced = false, bool UnknownRank = false);

/// <summary>
/// Writes TensorFlow checkpoints independently of the library's reader, following TensorFlow's table_format.md
/// (LevelDB tables: prefix-compressed blocks with restart points, 5-byte trailers with a masked CRC-32C, an index
/// block, a 48-byte footer with the magic number) and tensor_bundle.proto. Its CRC-32C is a bitwise table
/// implementation, not the library's.
/// </summary>
internal static partial class TensorBundleTestWriter
{
    private const ulong TableMagic = 0xdb4775248b80fb57;
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>The data file and entries for float32 tensors, stored in key order.</summary>
    public static (byte[] Data, List<TestBundleEntry> Entries) LayOut(IEnumerable<(string Name, float[] Values, long[] Shape)> tensors)
    {
        using var data = new MemoryStream();
        var entries = new List<TestBundleEntry>();
        foreach ((string name, float[] values, long[] shape) in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            byte[] bytes = new byte[values.Length * 4];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            entries.Add(new TestBundleEntry(name, shape, data.Position, bytes.Length, Mask(Crc32C(bytes))));
            data.Write(bytes);
        }
        return (data.ToArray(), entries);
    }

    /// <summary>The index file: the header under the empty key, then the entries (in the given order), <paramref name="perBlock"/> to a data block.</summary>
    public static byte[] BuildIndex(IEnumerable<TestBundleEntry> entries, out List<int> boundaries, int shardCount = 1, int perBlock = 3)
    {
        var records = new List<(byte[] Key, byte[] Value)> { ([], [0x08, (byte)shardCount, 0x1A, 0x02, 0x08, 0x01]) };
        records.AddRange(entries.Select(entry => (Encoding.UTF8.GetBytes(entry.Name), EncodeEntry(entry))));

        using var file = new MemoryStream();
        boundaries = [];
        var indexRecords = new List<(byte[] Key, byte[] Value)>();
        foreach ((byte[] Key, byte[] Value)[] chunk in records.Chunk(perBlock))
        {
            (long offset, long size) = WriteBlock(file, chunk, restartInterval: 2, boundaries);
            indexRecords.Add((chunk[^1].Key, [.. Varint((ulong)offset), .. Varint((ulong)size)]));
        }
        (long metaOffset, long metaSize) = WriteBlock(file, [], 1, boundaries);
        (long indexOffset, long indexSize) = WriteBlock(file, indexRecords, 1, boundaries);
        byte[] footer = new byte[48];
        byte[] handles = [.. Varint((ulong)metaOffset), .. Varint((ulong)metaSize), .. Varint((ulong)indexOffset), .. Varint((ulong)indexSize)];
        handles.CopyTo(footer, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(footer.AsSpan(40), TableMagic);
        boundaries.Add((int)file.Length);
        file.Write(footer);
        return file.ToArray();
    }

    /// <summary>Writes <c>prefix.index</c> and <c>prefix.data-00000-of-00001</c>.</summary>
    public static void WriteFiles(string prefix, byte[] index, byte[] data)
    {
        File.WriteAllBytes(prefix + ".index", index);
        File.WriteAllBytes(prefix + ".data-00000-of-00001", data);
    }

    /// <summary>An OpenAI release folder holding <paramref name="tensors"/> (TensorFlow names) and the given hparams.</summary>
    public static void WriteReleaseFolder(string folder, IEnumerable<(string Name, float[] Values, long[] Shape)> tensors, string hparamsJson)
    {
        System.IO.Directory.CreateDirectory(folder);
        (byte[] data, List<TestBundleEntry> entries) = LayOut(tensors);
        WriteFiles(Path.Combine(folder, "model.ckpt"), BuildIndex(entries, out _), data);
        File.WriteAllText(Path.Combine(folder, "hparams.json"), hparamsJson);
        File.WriteAllText(Path.Combine(folder, "checkpoint"), "model_checkpoint_path: \"model.ckpt\"\nall_model_checkpoint_paths: \"model.ckpt\"\n");
    }

    /// <summary>A Hugging Face safetensors file's GPT-2 weights under OpenAI's TensorFlow names and layout; null for the mask buffers.</summary>
    public static List<(string Name, float[] Values, long[] Shape)> FromHuggingFace(SafetensorsFile file)
    {
        var tensors = new List<(string, float[], long[])>();
        foreach (SafetensorsTensorInfo info in file.Tensors.Values.Where(t => !t.Name.EndsWith(".attn.bias", StringComparison.Ordinal)))
        {
            string name = info.Name.Replace(".weight", "/w").Replace(".bias", "/b");
            name = "model/" + LayerPrefix().Replace(LayerNormWeight().Replace(name, "$1/g"), "h$1/").Replace('.', '/');
            name = name is "model/wte/w" or "model/wpe/w" ? name[..^2] : name;
            long[] shape = name.EndsWith("/w", StringComparison.Ordinal) ? [1, .. info.Shape] : info.Shape;
            using var value = file.ReadTensor(info.Name);
            tensors.Add((name, value.data<float>().ToArray(), shape));
        }
        return tensors;
    }

    [GeneratedRegex(@"^h\.(\d+)\.")]
    private static partial Regex LayerPrefix();

    [GeneratedRegex(@"(ln_[12f])/w$")]
    private static partial Regex LayerNormWeight();

    private static byte[] EncodeEntry(TestBundleEntry entry)
    {
        var shape = new List<byte>();
        foreach (long size in entry.Shape)
        {
            byte[] dimension = [0x08, .. Varint((ulong)size)];
            shape.AddRange([0x12, .. Varint((ulong)dimension.Length), .. dimension]);
        }
        if (entry.UnknownRank)
            shape.AddRange([0x18, 0x01]);
        var message = new List<byte> { 0x08 };
        message.AddRange(Varint((ulong)entry.DataType));
        message.AddRange([0x12, .. Varint((ulong)shape.Count), .. shape]);
        if (entry.Shard != 0)
            message.AddRange([0x18, .. Varint((ulong)entry.Shard)]);
        if (entry.Offset != 0)
            message.AddRange([0x20, .. Varint((ulong)entry.Offset)]);
        message.AddRange([0x28, .. Varint((ulong)entry.Size)]);
        message.Add(0x35);
        message.AddRange(BitConverter.GetBytes(entry.MaskedCrc));
        if (entry.Sliced)
            message.AddRange([0x3A, 0x00]);
        return [.. message];
    }

    private static (long Offset, long Size) WriteBlock(MemoryStream file, IReadOnlyList<(byte[] Key, byte[] Value)> records, int restartInterval, List<int> boundaries)
    {
        boundaries.Add((int)file.Length);
        var block = new List<byte>();
        var restarts = new List<int>();
        byte[] previous = [];
        for (int i = 0; i < records.Count; i++)
        {
            (byte[] key, byte[] value) = records[i];
            int shared = 0;
            if (i % restartInterval == 0)
                restarts.Add(block.Count);
            else
                while (shared < Math.Min(key.Length, previous.Length) && key[shared] == previous[shared])
                    shared++;
            block.AddRange([.. Varint((ulong)shared), .. Varint((ulong)(key.Length - shared)), .. Varint((ulong)value.Length), .. key[shared..], .. value]);
            previous = key;
        }
        if (restarts.Count == 0)
            restarts.Add(0);
        foreach (int restart in restarts)
            block.AddRange(BitConverter.GetBytes(restart));
        block.AddRange(BitConverter.GetBytes(restarts.Count));

        long offset = file.Length;
        byte[] contents = [.. block, 0x00];
        file.Write(contents);
        boundaries.Add((int)file.Length - 1);
        file.Write(BitConverter.GetBytes(Mask(Crc32C(contents))));
        return (offset, block.Count);
    }

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        for (; value >= 0x80; value >>= 7)
            bytes.Add((byte)(value | 0x80));
        bytes.Add((byte)value);
        return [.. bytes];
    }

    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = uint.MaxValue;
        foreach (byte value in data)
            crc = CrcTable[(crc ^ value) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    private static uint Mask(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8;

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint crc = i;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
            table[i] = crc;
        }
        return table;
    }
}
