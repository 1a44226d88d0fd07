using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>The protobuf encoding against the examples of the protobuf encoding guide, the 2 GB limit, and atomic, streamed writes.</summary>
[TestClass]
public sealed class OnnxWriterTests : TemporaryDirectoryTest
{
    [TestMethod]
    public void VarintsMatchTheProtobufEncodingGuide()
    {
        CollectionAssert.AreEqual(new byte[] { 0x08, 0x96, 0x01 }, Encode(new ProtobufMessage().Varint(1, 150)));
        CollectionAssert.AreEqual(new byte[] { 0x08, 0xAC, 0x02 }, Encode(new ProtobufMessage().Varint(1, 300)));
        // int64 -1: two's complement, ten bytes.
        CollectionAssert.AreEqual(new byte[] { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, Encode(new ProtobufMessage().Varint(1, -1)));
    }

    [TestMethod]
    public void LengthDelimitedFieldsMatchTheProtobufEncodingGuide()
    {
        CollectionAssert.AreEqual("\x12\x07testing"u8.ToArray(), Encode(new ProtobufMessage().String(2, "testing")));
        CollectionAssert.AreEqual(new byte[] { 0x1A, 0x03, 0x08, 0x96, 0x01 }, Encode(new ProtobufMessage().Message(3, new ProtobufMessage().Varint(1, 150))));
        CollectionAssert.AreEqual(new byte[] { 0x32, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05 }, Encode(new ProtobufMessage().PackedInt64(6, [3, 270, 86942])));
        CollectionAssert.AreEqual(new byte[] { 0x15, 0x00, 0x00, 0x80, 0x3F }, Encode(new ProtobufMessage().Fixed32(2, 1.0f)));
        CollectionAssert.AreEqual(new byte[] { 0x4A, 0x02, 0xAB, 0xCD }, Encode(new ProtobufMessage().StreamedBytes(9, 2, stream => stream.Write([0xAB, 0xCD]))));
    }

    [TestMethod]
    public void TheComputedSizeIsTheSizeWrittenAndFileAndStreamExportsAgree()
    {
        using var model = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        using var stream = new MemoryStream();
        string path = Path.Combine(Directory, "model.onnx");

        Gpt2OnnxExporter.Export(model, stream);
        Gpt2OnnxExporter.Export(model, path);

        Dictionary<string, Tensor> parameters = model.state_dict();
        Assert.AreEqual(Gpt2OnnxGraph.Build((Gpt2Config)model.Config, name => parameters[name]).Size, stream.Length);
        CollectionAssert.AreEqual(stream.ToArray(), File.ReadAllBytes(path));
        // The weights are in the file: at least 4 bytes per parameter.
        Assert.IsTrue(stream.Length > 4 * model.ParameterCount, $"{stream.Length} bytes for {model.ParameterCount} parameters");
    }

    [TestMethod]
    public void AModelOverTwoGigabytesIsRefusedBeforeAnyWeightIsRead()
    {
        static Tensor Unreachable(string name) => throw new AssertFailedException($"Weight '{name}' was read.");
        OnnxModel large = Gpt2OnnxGraph.Build(Gpt2Config.Gpt2Large, Unreachable);
        OnnxModel medium = Gpt2OnnxGraph.Build(Gpt2Config.Gpt2Medium, Unreachable);
        string path = Path.Combine(Directory, "large.onnx");

        // 774,030,080 parameters (without the tied head) of 4 bytes, and the graph.
        Assert.IsTrue(large.Size > 4 * 774_030_080L && large.Size < 4 * 774_030_080L + 1_000_000, $"{large.Size} bytes");
        Assert.IsTrue(medium.Size < OnnxModel.MaxSize, $"the 355M model takes {medium.Size} bytes");
        var exception = Assert.ThrowsExactly<NotSupportedException>(() => large.WriteTo(path));
        StringAssert.Contains(exception.Message, "2 GB");
        Assert.ThrowsExactly<NotSupportedException>(() => large.WriteTo(Stream.Null));
        Assert.IsEmpty(System.IO.Directory.GetFiles(Directory));
    }

    [TestMethod]
    public void AFailingWriteLeavesTheExistingFileIntact()
    {
        using var model = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        Dictionary<string, Tensor> parameters = model.state_dict();
        string path = Path.Combine(Directory, "model.onnx");
        Gpt2OnnxExporter.Export(model, path);
        byte[] before = File.ReadAllBytes(path);
        // The last block's MLP is written after most of the file.
        OnnxModel failing = Gpt2OnnxGraph.Build((Gpt2Config)model.Config,
            name => name == "h.1.mlp.c_proj.weight" ? throw new IOException("No space left on device.") : parameters[name]);

        Assert.ThrowsExactly<IOException>(() => failing.WriteTo(path));

        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
        CollectionAssert.AreEqual(new[] { path }, System.IO.Directory.GetFiles(Directory));
    }

    private static byte[] Encode(ProtobufMessage message)
    {
        using var stream = new MemoryStream();
        message.WriteTo(stream);
        Assert.AreEqual(message.Size, stream.Length, "the computed size");
        return stream.ToArray();
    }
}
