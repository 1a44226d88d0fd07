namespace Gpt2.Torch.Checkpoints;

/// <summary>One float32 tensor's entry in a TensorFlow checkpoint index.</summary>
/// <param name="Name">The variable's name, such as <c>model/h0/attn/c_attn/w</c>.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Shard">Which data file holds it.</param>
/// <param name="Offset">Its first byte in that data file.</param>
/// <param name="Size">Its length in bytes.</param>
/// <param name="MaskedCrc32C">The CRC-32C of its bytes, masked as TensorFlow stores it.</param>
internal sealed record TensorBundleEntry(string Name, long[] Shape, int Shard, long Offset, long Size, uint MaskedCrc32C);
