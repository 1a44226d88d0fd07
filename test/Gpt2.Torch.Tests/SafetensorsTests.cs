using System.Text;
using Gpt2.Torch.Checkpoints;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class SafetensorsTests : TemporaryDirectoryTest
{
    private string PathOf(string name) => Path.Combine(Directory, name);

    private static byte[] FileWithHeader(string json, int dataBytes)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        return [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[dataBytes]];
    }

    private void AssertRejected(byte[] bytes, string expectedMessagePart)
    {
        string path = PathOf("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var error = Assert.ThrowsExactly<CheckpointFormatException>(() => SafetensorsFile.Open(path).Dispose());
        StringAssert.Contains(error.Message, expectedMessagePart);
    }

    [TestMethod]
    public void EverySupportedTypeRoundTripsExactly()
    {
        using var scope = NewDisposeScope();
        var tensors = new List<(string, Tensor)>
        {
            ("f32", randn(3, 5)),
            ("f16", randn(4, 2).to(ScalarType.Float16)),
            ("bf16", randn(7).to(ScalarType.BFloat16)),
            ("i64", arange(12, dtype: int64).view(3, 4)),
            ("scalar", tensor(2.5f)),
            ("empty", zeros(0, 3)),
            ("transposed", randn(3, 4).t()),
        };
        string path = PathOf("all.safetensors");
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafetensorsFile.Open(path);
        Assert.AreEqual("pt", file.Metadata["format"]);
        CollectionAssert.AreEqual(tensors.Select(t => t.Item1).ToArray(), file.Tensors.Keys.ToArray());
        foreach ((string name, Tensor expected) in tensors)
        {
            Tensor actual = file.ReadTensor(name);
            Assert.AreEqual(expected.dtype, actual.dtype, name);
            CollectionAssert.AreEqual(expected.shape, actual.shape, name);
            Assert.IsTrue(actual.equal(expected.contiguous()).all().item<bool>(), name);
        }
    }

    [TestMethod]
    public void ReadsTheReferenceFixtureWrittenByPython()
    {
        using var file = SafetensorsFile.Open(Path.Combine(TestPaths.TinyGpt2, "model.safetensors"));
        Assert.AreEqual(ScalarType.Float32, file.Tensors["wte.weight"].DType);
        CollectionAssert.AreEqual(new long[] { 1000, 64 }, file.Tensors["wte.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 64, 192 }, file.Tensors["h.0.attn.c_attn.weight"].Shape);
    }

    [TestMethod]
    public void TruncationAnywhereIsDetected()
    {
        string path = PathOf("good.safetensors");
        SafetensorsWriter.Write(path, [("a", ones(16)), ("b", ones(8))]);
        byte[] bytes = File.ReadAllBytes(path);
        foreach (int length in new[] { 0, 4, 8, 20, bytes.Length - 64, bytes.Length - 1 })
        {
            File.WriteAllBytes(PathOf("cut.safetensors"), bytes[..length]);
            Assert.ThrowsExactly<CheckpointFormatException>(() => SafetensorsFile.Open(PathOf("cut.safetensors")).Dispose(), $"truncated at {length}");
        }
    }

    [TestMethod]
    public void AHeaderLengthBeyondTheFileOrTheLimitIsRejected()
    {
        AssertRejected([.. BitConverter.GetBytes(1_000_000UL), .. new byte[16]], "truncated");
        AssertRejected([.. BitConverter.GetBytes(ulong.MaxValue), .. new byte[16]], "valid header has");
    }

    [TestMethod]
    public void MalformedHeadersNameTheProblem()
    {
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], ", 8), "not valid JSON");
        AssertRejected(FileWithHeader("[1, 2]", 0), "must be a JSON object");
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F99\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8), "dtype 'F99'");
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8), "non-negative");
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8), "tensor 'a': shape [3] of F32 needs 12 bytes");
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8), "names 'a' twice");
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", 16), "overlap");
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", 16), "belong to no tensor");
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [4000000000, 4000000000], \"data_offsets\": [0, 8]}}", 8), "more bytes than the file holds");
        AssertRejected(FileWithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 80]}}", 8), "run past the end");
    }

    [TestMethod]
    public void AFailedWriteLeavesThePreviousFileIntact()
    {
        string path = PathOf("keep.safetensors");
        SafetensorsWriter.Write(path, [("good", ones(4))]);
        byte[] before = File.ReadAllBytes(path);
        // A tensor type the format cannot hold makes the writer fail midway, after earlier tensors were written.
        Assert.ThrowsExactly<NotSupportedException>(() => SafetensorsWriter.Write(path, [("a", ones(4)), ("b", ones(2, dtype: ScalarType.ComplexFloat32))]));
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
        Assert.AreEqual(1, System.IO.Directory.GetFiles(Directory).Length, "no temporary file may be left behind");
    }
}
