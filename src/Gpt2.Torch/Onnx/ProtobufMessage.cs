using System.Buffers.Binary;
using System.Text;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// A protocol buffers message under construction, written in the wire format without any protobuf library.
/// Large byte fields are streamed: they declare their length up front and write their content only when the
/// message is written, so a model's weights never sit in one byte array. Sizes are computed before writing,
/// because every nested message is prefixed with its length.
/// </summary>
internal sealed class ProtobufMessage
{
    private const int VarintWireType = 0, LengthDelimitedWireType = 2, Fixed32WireType = 5;

    private readonly List<Field> _fields = [];
    private long? _size;

    /// <summary>The message's encoded size in bytes (without a length prefix).</summary>
    public long Size => _size ??= _fields.Sum(each => each.Size);

    public ProtobufMessage Varint(int number, long value) => Add(new VarintField(number, value));

    public ProtobufMessage Fixed32(int number, float value) => Add(new Fixed32Field(number, value));

    public ProtobufMessage String(int number, string value) => Bytes(number, Encoding.UTF8.GetBytes(value));

    public ProtobufMessage Bytes(int number, byte[] value) => Add(new BytesField(number, value));

    /// <summary>A byte field of <paramref name="length"/> bytes whose content <paramref name="write"/> produces when the message is written.</summary>
    public ProtobufMessage StreamedBytes(int number, long length, Action<Stream> write) => Add(new StreamedBytesField(number, length, write));

    public ProtobufMessage Message(int number, ProtobufMessage message) => Add(new MessageField(number, message));

    /// <summary>A packed repeated int64 field (one length-delimited run of varints).</summary>
    public ProtobufMessage PackedInt64(int number, IEnumerable<long> values)
    {
        var buffer = new MemoryStream();
        foreach (long value in values)
            WriteVarint(buffer, (ulong)value);
        return Bytes(number, buffer.ToArray());
    }

    /// <summary>Writes the message's fields (without a length prefix).</summary>
    public void WriteTo(Stream stream)
    {
        foreach (Field field in _fields)
            field.WriteTo(stream);
    }

    private ProtobufMessage Add(Field field)
    {
        _fields.Add(field);
        _size = null;
        return this;
    }

    internal static int VarintSize(ulong value)
    {
        int size = 1;
        for (; value >= 0x80; value >>= 7)
            size++;
        return size;
    }

    internal static void WriteVarint(Stream stream, ulong value)
    {
        Span<byte> buffer = stackalloc byte[10];
        int length = 0;
        for (; value >= 0x80; value >>= 7)
            buffer[length++] = (byte)(value | 0x80);
        buffer[length++] = (byte)value;
        stream.Write(buffer[..length]);
    }

    private static ulong Tag(int number, int wireType) => ((ulong)number << 3) | (uint)wireType;

    private abstract record Field(int Number)
    {
        public abstract long Size { get; }

        public abstract void WriteTo(Stream stream);
    }

    // int32, int64 and enum values; negative numbers take ten bytes, as protobuf encodes them.
    private sealed record VarintField(int Number, long Value) : Field(Number)
    {
        public override long Size => VarintSize(Tag(Number, VarintWireType)) + VarintSize((ulong)Value);

        public override void WriteTo(Stream stream)
        {
            WriteVarint(stream, Tag(Number, VarintWireType));
            WriteVarint(stream, (ulong)Value);
        }
    }

    private sealed record Fixed32Field(int Number, float Value) : Field(Number)
    {
        public override long Size => VarintSize(Tag(Number, Fixed32WireType)) + 4;

        public override void WriteTo(Stream stream)
        {
            WriteVarint(stream, Tag(Number, Fixed32WireType));
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(bytes, Value);
            stream.Write(bytes);
        }
    }

    private abstract record LengthDelimitedField(int Number) : Field(Number)
    {
        protected abstract long ContentSize { get; }

        public override long Size => VarintSize(Tag(Number, LengthDelimitedWireType)) + VarintSize((ulong)ContentSize) + ContentSize;

        public override void WriteTo(Stream stream)
        {
            WriteVarint(stream, Tag(Number, LengthDelimitedWireType));
            WriteVarint(stream, (ulong)ContentSize);
            WriteContent(stream);
        }

        protected abstract void WriteContent(Stream stream);
    }

    private sealed record BytesField(int Number, byte[] Value) : LengthDelimitedField(Number)
    {
        protected override long ContentSize => Value.Length;

        protected override void WriteContent(Stream stream) => stream.Write(Value);
    }

    private sealed record StreamedBytesField(int Number, long Length, Action<Stream> Write) : LengthDelimitedField(Number)
    {
        protected override long ContentSize => Length;

        protected override void WriteContent(Stream stream) => Write(stream);
    }

    private sealed record MessageField(int Number, ProtobufMessage Message) : LengthDelimitedField(Number)
    {
        protected override long ContentSize => Message.Size;

        protected override void WriteContent(Stream stream) => Message.WriteTo(stream);
    }
}
