using static TorchSharp.torch;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// Builds an ONNX <c>GraphProto</c>: typed inputs and outputs, nodes added in topological order, and initializers
/// (weights streamed from tensors when the model is written, small constants inline).
/// </summary>
internal sealed class OnnxGraph(string name)
{
    // GraphProto, NodeProto, TensorProto, ValueInfoProto, TypeProto and TensorShapeProto fields (onnx.proto).
    private const int GraphNodeField = 1, GraphNameField = 2, GraphInitializerField = 5, GraphInputField = 11, GraphOutputField = 12;
    private const int NodeInputField = 1, NodeOutputField = 2, NodeNameField = 3, NodeOpTypeField = 4, NodeAttributeField = 5, NodeDomainField = 7;
    private const int TensorDimsField = 1, TensorDataTypeField = 2, TensorInt64DataField = 7, TensorNameField = 8, TensorRawDataField = 9;
    private const int ValueInfoNameField = 1, ValueInfoTypeField = 2;
    private const int TypeTensorTypeField = 1, TensorTypeElemTypeField = 1, TensorTypeShapeField = 2;
    private const int ShapeDimField = 1, DimValueField = 1, DimParamField = 2;

    private readonly List<ProtobufMessage> _nodes = [];
    private readonly List<ProtobufMessage> _initializers = [];
    private readonly List<ProtobufMessage> _inputs = [];
    private readonly List<ProtobufMessage> _outputs = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _generatedNames;

    /// <summary>Declares a graph input; returns its name.</summary>
    public string Input(string name, OnnxDataType type, params OnnxDimension[] shape)
    {
        _inputs.Add(ValueInfo(Claim(name), type, shape));
        return name;
    }

    /// <summary>Declares the value <paramref name="name"/> a graph output.</summary>
    public void Output(string name, OnnxDataType type, params OnnxDimension[] shape)
    {
        if (!_names.Contains(name))
            throw new InvalidOperationException($"The ONNX graph has no value named '{name}' to output.");
        _outputs.Add(ValueInfo(name, type, shape));
    }

    /// <summary>
    /// A float32 initializer of <paramref name="shape"/> whose values <paramref name="values"/> computes when the
    /// model is written (any dtype or device; converted to little-endian float32 and disposed right after).
    /// </summary>
    public string Weight(string name, long[] shape, Func<Tensor> values) => Weight(name, OnnxDataType.Float, shape, values);

    /// <summary>An initializer of <paramref name="type"/> (float32 or uint8) computed when the model is written, as <see cref="Weight(string, long[], Func{Tensor})"/>.</summary>
    public string Weight(string name, OnnxDataType type, long[] shape, Func<Tensor> values)
    {
        long length = shape.Aggregate(type == OnnxDataType.UInt8 ? 1L : 4L, (bytes, size) => bytes * size);
        _initializers.Add(TensorHeader(Claim(name), type, shape)
            .StreamedBytes(TensorRawDataField, length, stream => WriteRaw(stream, values, type, shape, length, name)));
        return name;
    }

    /// <summary>A constant int64 vector.</summary>
    public string Int64s(params long[] values) =>
        Constant(OnnxDataType.Int64, [values.Length], tensor => tensor.PackedInt64(TensorInt64DataField, values));

    /// <summary>A constant int64 scalar.</summary>
    public string Int64(long value) =>
        Constant(OnnxDataType.Int64, [], tensor => tensor.PackedInt64(TensorInt64DataField, [value]));

    /// <summary>A constant int32 vector.</summary>
    public string Int32s(params int[] values) =>
        Constant(OnnxDataType.Int32, [values.Length], tensor => tensor.Bytes(TensorRawDataField, [.. values.SelectMany(BitConverter.GetBytes)]));

    /// <summary>A constant int32 scalar.</summary>
    public string Int32(int value) =>
        Constant(OnnxDataType.Int32, [], tensor => tensor.Bytes(TensorRawDataField, BitConverter.GetBytes(value)));

    /// <summary>A constant float32 scalar.</summary>
    public string Float(float value) =>
        Constant(OnnxDataType.Float, [], tensor => tensor.Bytes(TensorRawDataField, BitConverter.GetBytes(value)));

    /// <summary>Adds a node with one output; returns the output's name (generated unless given).</summary>
    public string Node(string opType, IReadOnlyList<string> inputs, params OnnxAttribute[] attributes) =>
        Node(opType, inputs, output: null, attributes);

    /// <summary>Adds a node with one output named <paramref name="output"/> (generated when null).</summary>
    public string Node(string opType, IReadOnlyList<string> inputs, string? output, params OnnxAttribute[] attributes) =>
        Node(opType, inputs, [output ?? NewName(opType)], domain: null, attributes)[0];

    /// <summary>Adds a node with the given outputs, in <paramref name="domain"/> (the ONNX domain when null).</summary>
    public IReadOnlyList<string> Node(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, string? domain, params OnnxAttribute[] attributes)
    {
        var node = new ProtobufMessage();
        foreach (string input in inputs)
            node.String(NodeInputField, input);
        foreach (string output in outputs)
            node.String(NodeOutputField, Claim(output));
        node.String(NodeNameField, outputs[0]).String(NodeOpTypeField, opType);
        foreach (OnnxAttribute attribute in attributes)
            node.Message(NodeAttributeField, attribute.Proto);
        if (domain is not null)
            node.String(NodeDomainField, domain);
        _nodes.Add(node);
        return outputs;
    }

    /// <summary>The graph as a <c>GraphProto</c> message.</summary>
    public ProtobufMessage ToProto()
    {
        var graph = new ProtobufMessage();
        foreach (ProtobufMessage node in _nodes)
            graph.Message(GraphNodeField, node);
        graph.String(GraphNameField, name);
        foreach (ProtobufMessage initializer in _initializers)
            graph.Message(GraphInitializerField, initializer);
        foreach (ProtobufMessage input in _inputs)
            graph.Message(GraphInputField, input);
        foreach (ProtobufMessage output in _outputs)
            graph.Message(GraphOutputField, output);
        return graph;
    }

    private string Constant(OnnxDataType type, long[] shape, Func<ProtobufMessage, ProtobufMessage> withData)
    {
        string name = Claim(NewName("const"));
        _initializers.Add(withData(TensorHeader(name, type, shape)));
        return name;
    }

    private string Claim(string name) =>
        _names.Add(name) ? name : throw new InvalidOperationException($"The ONNX graph already has a value named '{name}'.");

    /// <summary>A value name not yet used in the graph, made from <paramref name="prefix"/>.</summary>
    public string NewName(string prefix)
    {
        string name;
        do
            name = $"{prefix}_{_generatedNames++}";
        while (_names.Contains(name));
        return name;
    }

    private static ProtobufMessage TensorHeader(string name, OnnxDataType type, long[] shape)
    {
        var tensor = new ProtobufMessage();
        // TensorProto.dims is a proto2 repeated field without [packed = true]: one field per dimension.
        foreach (long size in shape)
            tensor.Varint(TensorDimsField, size);
        return tensor.Varint(TensorDataTypeField, (int)type).String(TensorNameField, name);
    }

    private static ProtobufMessage ValueInfo(string name, OnnxDataType type, OnnxDimension[] shape)
    {
        var dims = new ProtobufMessage();
        foreach (OnnxDimension dimension in shape)
            dims.Message(ShapeDimField, dimension.Symbol is null
                ? new ProtobufMessage().Varint(DimValueField, dimension.Size)
                : new ProtobufMessage().String(DimParamField, dimension.Symbol));
        var tensorType = new ProtobufMessage().Varint(TensorTypeElemTypeField, (int)type).Message(TensorTypeShapeField, dims);
        return new ProtobufMessage()
            .String(ValueInfoNameField, name)
            .Message(ValueInfoTypeField, new ProtobufMessage().Message(TypeTensorTypeField, tensorType));
    }

    private static void WriteRaw(Stream stream, Func<Tensor> values, OnnxDataType type, long[] shape, long length, string name)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian; writing it on a big-endian machine is not supported.");
        using var scope = NewDisposeScope();
        Tensor tensor = values().detach().to(type == OnnxDataType.UInt8 ? uint8 : float32).cpu().contiguous();
        if (!tensor.shape.SequenceEqual(shape))
            throw new InvalidOperationException(
                $"Tensor '{name}' has shape [{string.Join(", ", tensor.shape)}], but the ONNX graph declared [{string.Join(", ", shape)}].");
        ReadOnlySpan<byte> bytes = tensor.bytes;
        if (bytes.Length != length)
            throw new InvalidOperationException($"Tensor '{name}' holds {bytes.Length} bytes, but the ONNX graph declared {length}.");
        stream.Write(bytes);
    }
}
