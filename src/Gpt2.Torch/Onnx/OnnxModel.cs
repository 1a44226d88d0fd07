using Gpt2.Torch.IO;

namespace Gpt2.Torch.Onnx;

/// <summary>An ONNX <c>ModelProto</c>: a graph, the operator sets it imports, and who produced it.</summary>
internal sealed class OnnxModel
{
    /// <summary>Largest file protobuf parsers (and so ONNX Runtime) accept: messages are limited to 2 GB.</summary>
    public const long MaxSize = int.MaxValue;

    // ONNX 1.15's IR version, the one that introduced opset 20.
    private const long IrVersion = 9;

    // ModelProto and OperatorSetIdProto fields (onnx.proto).
    private const int IrVersionField = 1, ProducerNameField = 2, ProducerVersionField = 3, GraphField = 7, OpsetImportField = 8;
    private const int OpsetDomainField = 1, OpsetVersionField = 2;

    private readonly ProtobufMessage _proto;

    /// <summary>Wraps <paramref name="graph"/>, importing the ONNX operator set <paramref name="opset"/> and any <paramref name="extraOpsets"/>.</summary>
    public OnnxModel(OnnxGraph graph, int opset, params (string Domain, int Version)[] extraOpsets)
    {
        _proto = new ProtobufMessage()
            .Varint(IrVersionField, IrVersion)
            .String(ProducerNameField, "Gpt2.Torch")
            .String(ProducerVersionField, typeof(OnnxModel).Assembly.GetName().Version?.ToString() ?? "")
            .Message(GraphField, graph.ToProto());
        foreach ((string domain, int version) in extraOpsets.Prepend(("", opset)))
            _proto.Message(OpsetImportField, new ProtobufMessage().String(OpsetDomainField, domain).Varint(OpsetVersionField, version));
    }

    /// <summary>The file's size in bytes.</summary>
    public long Size => _proto.Size;

    /// <summary>Writes the model, after checking that it stays under protobuf's 2 GB limit.</summary>
    public void WriteTo(Stream stream)
    {
        ThrowIfTooLarge();
        _proto.WriteTo(stream);
    }

    /// <summary>The model's bytes, in an array of exactly its size (no second copy, as <c>MemoryStream.ToArray</c> would make), after checking its size.</summary>
    public byte[] ToArray()
    {
        ThrowIfTooLarge();
        var bytes = new byte[Size];
        using var buffer = new MemoryStream(bytes);
        _proto.WriteTo(buffer);
        return bytes;
    }

    /// <summary>Writes the model to <paramref name="path"/> atomically, after checking its size.</summary>
    public void WriteTo(string path)
    {
        ThrowIfTooLarge();
        AtomicFile.Write(path, WriteTo);
    }

    private void ThrowIfTooLarge()
    {
        if (Size > MaxSize)
            throw new NotSupportedException(
                $"The ONNX model would take {Size:N0} bytes, over protobuf's 2 GB limit ({MaxSize:N0} bytes) for a single ONNX file; " +
                "export a smaller model (GPT-2 up to the 355M preset fits) or keep this one in TorchSharp.");
    }
}
