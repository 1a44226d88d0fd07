using static TorchSharp.torch;

namespace Gpt2.Torch.Checkpoints;

/// <summary>The element types of the safetensors format that map onto TorchSharp types.</summary>
internal static class SafetensorsDType
{
    private static readonly (string Name, ScalarType Type, int Size)[] Types =
    [
        ("F64", ScalarType.Float64, 8),
        ("F32", ScalarType.Float32, 4),
        ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2),
        ("I64", ScalarType.Int64, 8),
        ("I32", ScalarType.Int32, 4),
        ("I16", ScalarType.Int16, 2),
        ("I8", ScalarType.Int8, 1),
        ("U8", ScalarType.Byte, 1),
        ("BOOL", ScalarType.Bool, 1),
    ];

    public static bool TryParse(string name, out ScalarType type, out int size)
    {
        foreach (var entry in Types)
        {
            if (entry.Name == name)
            {
                (type, size) = (entry.Type, entry.Size);
                return true;
            }
        }
        (type, size) = (default, 0);
        return false;
    }

    public static string NameOf(ScalarType type)
    {
        foreach (var entry in Types)
        {
            if (entry.Type == type)
                return entry.Name;
        }
        throw new NotSupportedException($"Tensors of type {type} cannot be stored in safetensors files by this library.");
    }

    public static string SupportedNames => string.Join(", ", Types.Select(t => t.Name));
}
