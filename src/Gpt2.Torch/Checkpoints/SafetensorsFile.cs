using System.IO.MemoryMappedFiles;
using System.Text.Json;
using static TorchSharp.torch;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// A safetensors file opened for reading: the header is parsed and validated up front, tensors are read on
/// demand from a memory mapping, so files larger than memory work.
/// </summary>
/// <remarks>
/// Validation follows the format's rules strictly: the header length is bounded and inside the file, the header
/// is well-formed JSON without duplicate names, every dtype is known, every shape matches its byte range, and the
/// ranges lie inside the data section, cover it completely and do not overlap. Any failure is a
/// <see cref="CheckpointFormatException"/> that names the tensor and the problem.
/// </remarks>
internal sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the format's own limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Most tensors accepted in one file.</summary>
    public const int MaxTensorCount = 1_000_000;

    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _data;

    private SafetensorsFile(string path, IReadOnlyDictionary<string, SafetensorsTensorInfo> tensors,
        IReadOnlyDictionary<string, string> metadata, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, long dataOffset)
    {
        Path = path;
        Tensors = tensors;
        Metadata = metadata;
        _mapping = mapping;
        _view = view;
        if (view is not null)
        {
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            _data = start + view.PointerOffset + dataOffset;
        }
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>The tensors, by name, in header order.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates a safetensors file.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"No safetensors file at {path}.", path);

        long fileLength;
        byte[] header;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            fileLength = stream.Length;
            Span<byte> start = stackalloc byte[9];
            start = start[..stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false)];
            // A header is JSON, so a file whose ninth byte is not '{' may be a pickle in disguise.
            if (start.Length < 9 || start[8] != (byte)'{')
                PickleCheckpoint.ThrowIfPickle(path, start);
            if (fileLength < 8)
                throw new CheckpointFormatException(path, $"truncated: {fileLength} bytes, fewer than the 8-byte header length.");
            ulong headerLength = BitConverter.ToUInt64(start[..8]);
            if (headerLength == 0 || headerLength > MaxHeaderBytes)
                throw new CheckpointFormatException(path, $"the header claims {headerLength} bytes; a valid header has 1 to {MaxHeaderBytes}.");
            if ((long)headerLength > fileLength - 8)
                throw new CheckpointFormatException(path, $"truncated: the header claims {headerLength} bytes but only {fileLength - 8} follow.");
            header = new byte[headerLength];
            stream.Position = 8;
            stream.ReadExactly(header);
        }

        long dataOffset = 8 + header.Length;
        long dataLength = fileLength - dataOffset;
        (var tensors, var metadata) = ParseHeader(path, header, dataLength);

        if (dataLength == 0)
            return new SafetensorsFile(path, tensors, metadata, null, null, dataOffset);
        var mapping = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = mapping.CreateViewAccessor(0, fileLength, MemoryMappedFileAccess.Read);
        return new SafetensorsFile(path, tensors, metadata, mapping, view, dataOffset);
    }

    /// <summary>Reads a tensor into a new CPU tensor.</summary>
    public Tensor ReadTensor(string name)
    {
        if (!Tensors.TryGetValue(name, out SafetensorsTensorInfo? info))
            throw new KeyNotFoundException($"{Path}: no tensor named '{name}'.");
        Tensor tensor = empty(info.Shape, info.DType);
        if (info.ByteCount > 0)
        {
            Span<byte> destination = tensor.bytes;
            fixed (byte* target = destination)
                Buffer.MemoryCopy(_data + info.Begin, target, destination.Length, info.ByteCount);
        }
        return tensor;
    }

    private static (Dictionary<string, SafetensorsTensorInfo>, Dictionary<string, string>) ParseHeader(
        string path, byte[] header, long dataLength)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw new CheckpointFormatException(path, "the header is not valid UTF-8 text.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, $"the header is not valid JSON ({e.Message}).", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(path, "the header must be a JSON object.");

            var tensors = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new CheckpointFormatException(path, $"the header names '{property.Name}' twice.");
                if (property.Name == "__metadata__")
                    ParseMetadata(path, property.Value, metadata);
                else
                {
                    if (tensors.Count == MaxTensorCount)
                        throw new CheckpointFormatException(path, $"the header lists more than {MaxTensorCount} tensors.");
                    tensors.Add(property.Name, ParseTensor(path, property.Name, property.Value, dataLength));
                }
            }
            ValidateLayout(path, tensors.Values, dataLength);
            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(string path, JsonElement element, Dictionary<string, string> metadata)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException(path, "__metadata__ must be an object of strings.");
        foreach (JsonProperty entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointFormatException(path, $"__metadata__ entry '{entry.Name}' must be a string.");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static SafetensorsTensorInfo ParseTensor(string path, string name, JsonElement element, long dataLength)
    {
        CheckpointFormatException Problem(string problem) => new(path, $"tensor '{name}': {problem}");

        if (element.ValueKind != JsonValueKind.Object)
            throw Problem("its entry must be an object with dtype, shape and data_offsets.");
        if (!element.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Problem("dtype is missing or not a string.");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDType.TryParse(dtypeName, out ScalarType dtype, out int elementSize))
            throw Problem($"dtype '{dtypeName}' is not supported (supported: {SafetensorsDType.SupportedNames}).");

        if (!element.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Problem("shape is missing or not an array.");
        var shape = new long[shapeElement.GetArrayLength()];
        long expectedBytes = elementSize;
        int i = 0;
        foreach (JsonElement dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long size) || size < 0)
                throw Problem($"shape [{shapeElement.GetRawText()}] must hold non-negative integers.");
            shape[i++] = size;
            // Saturate instead of overflowing: such a size never matches a byte range in a real file.
            expectedBytes = size == 0 || expectedBytes == 0 ? 0 : expectedBytes > long.MaxValue / size ? long.MaxValue : expectedBytes * size;
        }

        if (!element.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Problem("data_offsets must be an array of two integers.");
        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw Problem($"data_offsets {offsets.GetRawText()} must be two integers with 0 <= begin <= end.");
        if (end > dataLength)
            throw Problem($"its bytes [{begin}, {end}) run past the end of the data section ({dataLength} bytes); the file is truncated or the offsets are wrong.");
        if (expectedBytes != end - begin)
            throw Problem($"shape [{string.Join(", ", shape)}] of {dtypeName} needs {(expectedBytes == long.MaxValue ? "more bytes than the file holds" : $"{expectedBytes} bytes")}, but data_offsets span {end - begin}.");

        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }

    private static void ValidateLayout(string path, IEnumerable<SafetensorsTensorInfo> tensors, long dataLength)
    {
        long covered = 0;
        SafetensorsTensorInfo? previous = null;
        foreach (SafetensorsTensorInfo tensor in tensors.Where(t => t.ByteCount > 0).OrderBy(t => t.Begin))
        {
            if (tensor.Begin < covered)
                throw new CheckpointFormatException(path, $"tensors '{previous!.Name}' and '{tensor.Name}' overlap.");
            if (tensor.Begin > covered)
                throw new CheckpointFormatException(path, $"bytes [{covered}, {tensor.Begin}) of the data section belong to no tensor.");
            covered = tensor.End;
            previous = tensor;
        }
        if (covered != dataLength)
            throw new CheckpointFormatException(path,
                $"the data section ends with {dataLength - covered} byte(s) after the last tensor that belong to no tensor; the header length or the data offsets are wrong, or bytes were appended to the file.");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _mapping?.Dispose();
    }
}
