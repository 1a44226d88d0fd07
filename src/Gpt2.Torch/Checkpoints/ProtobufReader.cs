using System.Buffers.Binary;

namespace Gpt2.Torch.Checkpoints;

/// <summary>
/// A cursor over protocol buffers wire-format bytes (varints, fixed-width and length-delimited fields), which
/// LevelDB tables use for their own lengths too. Running past the end is an <see cref="InvalidDataException"/>.
/// </summary>
internal ref struct ProtobufReader(ReadOnlySpan<byte> data)
{
    private const int VarintWireType = 0, Fixed64WireType = 1, LengthDelimitedWireType = 2, Fixed32WireType = 5;

    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly bool AtEnd => _position >= _data.Length;

    public readonly int Remaining => _data.Length - _position;

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _data.Length)
                throw new InvalidDataException("a varint runs past the end of its data.");
            byte next = _data[_position++];
            value |= (ulong)(next & 0x7F) << shift;
            if (next < 0x80)
                return value;
        }
        throw new InvalidDataException("a varint is longer than 10 bytes.");
    }

    /// <summary>A varint that must fit in a non-negative int (a length or a count).</summary>
    public int ReadLength()
    {
        ulong value = ReadVarint();
        return value <= int.MaxValue ? (int)value : throw new InvalidDataException($"a length of {value} is out of range.");
    }

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (count < 0 || count > Remaining)
            throw new InvalidDataException($"{count} bytes are declared but only {Remaining} remain.");
        ReadOnlySpan<byte> bytes = _data.Slice(_position, count);
        _position += count;
        return bytes;
    }

    public uint ReadFixed32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4));

    public (int Field, int WireType) ReadTag()
    {
        ulong tag = ReadVarint();
        return tag >> 3 is > 0 and <= int.MaxValue ? ((int)(tag >> 3), (int)(tag & 7)) : throw new InvalidDataException($"field tag {tag} is invalid.");
    }

    /// <summary>The content of a length-delimited field (a string, bytes or a nested message).</summary>
    public ReadOnlySpan<byte> ReadLengthDelimited() => ReadBytes(ReadLength());

    public void SkipField(int wireType)
    {
        switch (wireType)
        {
            case VarintWireType: ReadVarint(); break;
            case Fixed64WireType: ReadBytes(8); break;
            case LengthDelimitedWireType: ReadLengthDelimited(); break;
            case Fixed32WireType: ReadBytes(4); break;
            default: throw new InvalidDataException($"wire type {wireType} is not supported.");
        }
    }
}
