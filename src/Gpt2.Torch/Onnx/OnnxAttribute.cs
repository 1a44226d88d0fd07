namespace Gpt2.Torch.Onnx;

/// <summary>A node attribute, encoded as an ONNX <c>AttributeProto</c>.</summary>
internal sealed class OnnxAttribute
{
    // AttributeProto fields and AttributeType values (onnx.proto).
    private const int NameField = 1, FloatField = 2, IntField = 3, StringField = 4, GraphField = 6, IntsField = 8, TypeField = 20;
    private const int FloatType = 1, IntType = 2, StringType = 3, GraphType = 5, IntsType = 7;

    private OnnxAttribute(ProtobufMessage proto) => Proto = proto;

    public ProtobufMessage Proto { get; }

    public static OnnxAttribute Int(string name, long value) =>
        new(Named(name, IntType).Varint(IntField, value));

    public static OnnxAttribute Float(string name, float value) =>
        new(Named(name, FloatType).Fixed32(FloatField, value));

    public static OnnxAttribute String(string name, string value) =>
        new(Named(name, StringType).String(StringField, value));

    public static OnnxAttribute Graph(string name, OnnxGraph graph) =>
        new(Named(name, GraphType).Message(GraphField, graph.ToProto()));

    // AttributeProto.ints is a proto2 repeated field without [packed = true]: one field per value.
    public static OnnxAttribute Ints(string name, params long[] values)
    {
        ProtobufMessage proto = Named(name, IntsType);
        foreach (long value in values)
            proto.Varint(IntsField, value);
        return new(proto);
    }

    private static ProtobufMessage Named(string name, int type) =>
        new ProtobufMessage().String(NameField, name).Varint(TypeField, type);
}
