namespace Gpt2.Torch.Onnx;

/// <summary>ONNX element types (<c>TensorProto.DataType</c> values), those the exporter uses.</summary>
internal enum OnnxDataType
{
    Float = 1,
    UInt8 = 2,
    Int32 = 6,
    Int64 = 7,
    Bool = 9,
}

/// <summary>One dimension of a graph input or output: a fixed size, or a symbolic name such as <c>"batch"</c>.</summary>
internal readonly record struct OnnxDimension(long Size, string? Symbol)
{
    public static implicit operator OnnxDimension(long size) => new(size, null);

    public static implicit operator OnnxDimension(string symbol) => new(0, symbol);
}
