using System.Text;
using System.Text.Json;
using Gpt2.Torch.IO;
using static TorchSharp.torch;

namespace Gpt2.Torch.Checkpoints;

/// <summary>Writes safetensors files, streaming one tensor at a time, atomically.</summary>
internal static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> (any device, any layout) to <paramref name="path"/>.</summary>
    /// <param name="path">The file to write; an existing file is replaced only once the new one is complete.</param>
    /// <param name="tensors">Names and tensors, written in this order.</param>
    /// <param name="metadata">Strings for the header's <c>__metadata__</c>.</param>
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        byte[] header = BuildHeader(tensors, metadata);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((ulong)header.Length));
            stream.Write(header);
            foreach ((string _, Tensor tensor) in tensors)
            {
                using var scope = NewDisposeScope();
                Tensor contiguousOnCpu = tensor.detach().cpu().contiguous();
                if (contiguousOnCpu.numel() > 0)
                    stream.Write(contiguousOnCpu.bytes);
            }
        });
    }

    private static byte[] BuildHeader(IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach ((string key, string value) in metadata)
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach ((string name, Tensor tensor) in tensors)
            {
                if (name == "__metadata__" || !names.Add(name))
                    throw new ArgumentException($"Tensor name '{name}' is reserved or used twice.", nameof(tensors));
                long bytes = tensor.numel() * tensor.ElementSize;
                json.WriteStartObject(name);
                json.WriteString("dtype", SafetensorsDType.NameOf(tensor.dtype));
                json.WriteStartArray("shape");
                foreach (long size in tensor.shape)
                    json.WriteNumberValue(size);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        // Pad with spaces so the data section starts 8-byte aligned, as the reference implementation does.
        int padding = (int)((8 - buffer.Length % 8) % 8);
        buffer.Write(Encoding.ASCII.GetBytes(new string(' ', padding)));
        return buffer.ToArray();
    }
}
