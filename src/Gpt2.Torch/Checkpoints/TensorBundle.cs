using System.Text;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// A TensorFlow checkpoint (a tensor bundle: <c>prefix.index</c> and <c>prefix.data-NNNNN-of-NNNNN</c>) opened for
/// reading without TensorFlow. The index is parsed and validated up front; float32 tensors are read on demand
/// and checked against their CRC-32C.
/// </summary>
/// <remarks>
/// The index is a LevelDB table whose empty key holds a <c>BundleHeaderProto</c> and whose other keys are tensor
/// names holding <c>BundleEntryProto</c> messages (dtype, shape, shard, offset, size, CRC). Every entry must be a
/// whole float32 tensor whose bytes lie inside its data file without overlapping another's; any failure is a
/// <see cref="CheckpointFormatException"/>.
/// </remarks>
internal sealed class TensorBundle : IDisposable
{
    /// <summary>Largest index file accepted.</summary>
    public const long MaxIndexBytes = 100_000_000;

    /// <summary>Most tensors accepted in one checkpoint.</summary>
    public const int MaxTensorCount = 1_000_000;

    /// <summary>Most data files accepted.</summary>
    public const int MaxShardCount = 10_000;

    private const int FloatDataType = 1; // tensorflow.DataType.DT_FLOAT

    private readonly SafeFileHandle[] _shards;
    private readonly string[] _shardPaths;

    private TensorBundle(string prefix, IReadOnlyDictionary<string, TensorBundleEntry> tensors, SafeFileHandle[] shards, string[] shardPaths, long dataBytes)
    {
        Prefix = prefix;
        Tensors = tensors;
        _shards = shards;
        _shardPaths = shardPaths;
        DataBytes = dataBytes;
    }

    /// <summary>The checkpoint prefix, such as <c>folder/model.ckpt</c>.</summary>
    public string Prefix { get; }

    /// <summary>The tensors, by name, in key order.</summary>
    public IReadOnlyDictionary<string, TensorBundleEntry> Tensors { get; }

    /// <summary>Total bytes of the data files.</summary>
    public long DataBytes { get; }

    /// <summary>Opens and validates the checkpoint at <paramref name="prefix"/> (the path without <c>.index</c>).</summary>
    public static TensorBundle Open(string prefix)
    {
        string indexPath = prefix + ".index";
        if (!File.Exists(indexPath))
            throw new FileNotFoundException($"No TensorFlow checkpoint index at {indexPath}.", indexPath);
        long indexLength = new FileInfo(indexPath).Length;
        if (indexLength > MaxIndexBytes)
            throw new CheckpointFormatException(indexPath, $"the index has {indexLength} bytes; at most {MaxIndexBytes} are accepted.");
        byte[] index = File.ReadAllBytes(indexPath);
        PickleCheckpoint.ThrowIfPickle(indexPath, index);

        List<(byte[] Key, byte[] Value)> records;
        int shardCount;
        try
        {
            records = SortedStringTable.ReadAll(index, MaxTensorCount + 1);
            if (records.Count == 0 || records[0].Key.Length != 0)
                throw new InvalidDataException("it has no bundle header (the entry with the empty key), so it is not a TensorFlow checkpoint index.");
            shardCount = ParseHeader(records[0].Value);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(indexPath, e.Message, e);
        }

        string[] shardPaths = [.. Enumerable.Range(0, shardCount).Select(shard => $"{prefix}.data-{shard:D5}-of-{shardCount:D5}")];
        long[] shardLengths = new long[shardCount];
        for (int shard = 0; shard < shardCount; shard++)
        {
            if (!File.Exists(shardPaths[shard]))
                throw new CheckpointFormatException(indexPath, $"the index declares {shardCount} data files, but {Path.GetFileName(shardPaths[shard])} is missing; download it beside the index.");
            shardLengths[shard] = new FileInfo(shardPaths[shard]).Length;
        }

        var tensors = new Dictionary<string, TensorBundleEntry>(StringComparer.Ordinal);
        foreach ((byte[] key, byte[] value) in records.Skip(1))
        {
            string name = Encoding.UTF8.GetString(key);
            try
            {
                tensors.Add(name, ParseEntry(name, value, shardLengths, shardPaths));
            }
            catch (InvalidDataException e)
            {
                throw new CheckpointFormatException(indexPath, $"tensor '{name}': {e.Message}", e);
            }
        }
        ValidateLayout(indexPath, tensors.Values);

        var handles = new SafeFileHandle[shardCount];
        for (int shard = 0; shard < shardCount; shard++)
            handles[shard] = File.OpenHandle(shardPaths[shard], FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        return new TensorBundle(prefix, tensors, handles, shardPaths, shardLengths.Sum());
    }

    /// <summary>Reads a tensor into a new CPU float32 tensor, checking its CRC-32C.</summary>
    public Tensor ReadTensor(string name)
    {
        if (!Tensors.TryGetValue(name, out TensorBundleEntry? entry))
            throw new KeyNotFoundException($"{Prefix}: no tensor named '{name}'.");
        Tensor tensor = empty(entry.Shape, ScalarType.Float32);
        try
        {
            Span<byte> bytes = entry.Size > 0 ? tensor.bytes : [];
            for (int read = 0; read < bytes.Length;)
            {
                int count = RandomAccess.Read(_shards[entry.Shard], bytes[read..], entry.Offset + read);
                if (count == 0)
                    throw new CheckpointFormatException(_shardPaths[entry.Shard], $"tensor '{name}': the file ended while reading it; it was truncated after opening.");
                read += count;
            }
            if (Crc32C.Mask(Crc32C.Compute(bytes)) != entry.MaskedCrc32C)
                throw new CheckpointFormatException(_shardPaths[entry.Shard], $"tensor '{name}': its bytes fail the CRC-32C check; the data file is corrupt or does not belong to this index.");
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    private static int ParseHeader(ReadOnlySpan<byte> message)
    {
        int shards = 0;
        var reader = new ProtobufReader(message);
        while (!reader.AtEnd)
        {
            (int field, int wireType) = reader.ReadTag();
            if (field == 1 && wireType == 0)
                shards = (int)Math.Min(reader.ReadVarint(), int.MaxValue);
            else if (field == 2 && wireType == 0)
            {
                if (reader.ReadVarint() != 0)
                    throw new InvalidDataException("the checkpoint was written on a big-endian machine; only little-endian checkpoints are supported.");
            }
            else
                reader.SkipField(wireType);
        }
        if (shards is < 1 or > MaxShardCount)
            throw new InvalidDataException($"the bundle header declares {shards} data files; a valid checkpoint has 1 to {MaxShardCount}.");
        return shards;
    }

    private static TensorBundleEntry ParseEntry(string name, ReadOnlySpan<byte> message, long[] shardLengths, string[] shardPaths)
    {
        int dataType = 0, shard = 0;
        long offset = 0, size = 0;
        uint crc = 0;
        var shape = new List<long>();
        var reader = new ProtobufReader(message);
        while (!reader.AtEnd)
        {
            (int field, int wireType) = reader.ReadTag();
            switch (field, wireType)
            {
                case (1, 0): dataType = (int)Math.Min(reader.ReadVarint(), int.MaxValue); break;
                case (2, 2): ParseShape(reader.ReadLengthDelimited(), shape); break;
                case (3, 0): shard = (int)Math.Min(reader.ReadVarint(), int.MaxValue); break;
                case (4, 0): offset = (long)reader.ReadVarint(); break;
                case (5, 0): size = (long)reader.ReadVarint(); break;
                case (6, 5): crc = reader.ReadFixed32(); break;
                case (7, 2): throw new InvalidDataException("it is stored in slices (a partitioned variable), which is not supported.");
                default: reader.SkipField(wireType); break;
            }
        }
        if (dataType != FloatDataType)
            throw new InvalidDataException($"its dtype is TensorFlow DataType {dataType}; only float32 (DT_FLOAT = 1) is supported.");
        if (shard < 0 || shard >= shardLengths.Length)
            throw new InvalidDataException($"it is in data file {shard}, but the checkpoint has {shardLengths.Length}.");
        if (offset < 0 || size < 0)
            throw new InvalidDataException($"offset {offset} and size {size} must be non-negative.");
        if (size > shardLengths[shard] - offset || offset > shardLengths[shard])
            throw new InvalidDataException(
                $"its bytes [{offset}, {offset}+{size}) run past the end of {Path.GetFileName(shardPaths[shard])} ({shardLengths[shard]} bytes); the data file is truncated or the offsets are wrong.");
        long expected = sizeof(float);
        foreach (long dimension in shape)
            expected = dimension == 0 || expected == 0 ? 0 : expected > long.MaxValue / dimension ? long.MaxValue : expected * dimension;
        if (expected != size)
            throw new InvalidDataException(
                $"shape [{string.Join(", ", shape)}] of float32 needs {(expected == long.MaxValue ? "more bytes than the file holds" : $"{expected} bytes")}, but the entry holds {size}.");
        if (size > Array.MaxLength)
            throw new InvalidDataException($"{size} bytes is more than one tensor may hold here ({Array.MaxLength}).");
        return new TensorBundleEntry(name, [.. shape], shard, offset, size, crc);
    }

    private static void ParseShape(ReadOnlySpan<byte> message, List<long> shape)
    {
        var reader = new ProtobufReader(message);
        while (!reader.AtEnd)
        {
            (int field, int wireType) = reader.ReadTag();
            if (field == 2 && wireType == 2)
            {
                long size = 0;
                var dimension = new ProtobufReader(reader.ReadLengthDelimited());
                while (!dimension.AtEnd)
                {
                    (int dimensionField, int dimensionWireType) = dimension.ReadTag();
                    if (dimensionField == 1 && dimensionWireType == 0)
                        size = (long)dimension.ReadVarint();
                    else
                        dimension.SkipField(dimensionWireType);
                }
                if (size < 0)
                    throw new InvalidDataException($"dimension {shape.Count} has size {size}; sizes must be non-negative.");
                if (shape.Count == 64)
                    throw new InvalidDataException("its shape has more than 64 dimensions.");
                shape.Add(size);
            }
            else if (field == 3 && wireType == 0)
            {
                if (reader.ReadVarint() != 0)
                    throw new InvalidDataException("its shape is of unknown rank.");
            }
            else
                reader.SkipField(wireType);
        }
    }

    private static void ValidateLayout(string indexPath, IEnumerable<TensorBundleEntry> tensors)
    {
        TensorBundleEntry? previous = null;
        foreach (TensorBundleEntry tensor in tensors.Where(t => t.Size > 0).OrderBy(t => t.Shard).ThenBy(t => t.Offset))
        {
            if (previous is not null && previous.Shard == tensor.Shard && tensor.Offset < previous.Offset + previous.Size)
                throw new CheckpointFormatException(indexPath, $"tensors '{previous.Name}' and '{tensor.Name}' overlap in data file {tensor.Shard}.");
            previous = tensor;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (SafeFileHandle shard in _shards)
            shard.Dispose();
    }
}
