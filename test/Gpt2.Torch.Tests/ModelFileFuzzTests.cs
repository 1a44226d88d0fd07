using System.Diagnostics;
using System.Text;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Damaged safetensors and TensorFlow checkpoints: every case must end in <see cref="CheckpointFormatException"/>
/// or <see cref="ArgumentException"/>, or load exactly the original weights (a damaged byte nobody reads, such as
/// footer padding); never another exception, a hang, an out-of-memory or a silently different model.
/// </summary>
[TestClass]
public sealed class ModelFileFuzzTests : TemporaryDirectoryTest
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 8, ContextLength = 4, EmbeddingSize = 4, HeadCount = 1, LayerCount = 1, Dropout = 0 };

    private int _cases;

    private void Try(string description, Func<Gpt2Model> load, Gpt2Model original)
    {
        _cases++;
        Gpt2Model loaded;
        try
        {
            loaded = load();
        }
        catch (Exception e) when (e is CheckpointFormatException or ArgumentException)
        {
            return;
        }
        using (loaded)
        {
            foreach ((string name, Tensor value) in original.state_dict())
                Assert.IsTrue(loaded.state_dict().TryGetValue(name, out Tensor? other) && value.equal(other).all().item<bool>(),
                    $"{description}: loaded a model whose {name} differs from the original.");
        }
    }

    [TestMethod]
    public void DamagedSafetensorsFilesAreRejectedOrHarmless()
    {
        var watch = Stopwatch.StartNew();
        using var original = new Gpt2Model(Tiny, CPU);
        string folder = Path.Combine(Directory, "st");
        Gpt2Checkpoint.Save(original, folder);
        string path = Path.Combine(folder, Gpt2Checkpoint.WeightsFileName);
        byte[] good = File.ReadAllBytes(path);
        int headerLength = (int)BitConverter.ToUInt64(good);
        string header = Encoding.UTF8.GetString(good, 8, headerLength);
        Gpt2Model Load() => Gpt2Checkpoint.Load(folder, CPU);
        void Case(string description, byte[] bytes)
        {
            File.WriteAllBytes(path, bytes);
            Try(description, Load, original);
        }

        using (var file = SafetensorsFile.Open(path))
        {
            var boundaries = new SortedSet<int> { 0, 1, 7, 8, 9, 8 + headerLength - 1, 8 + headerLength, good.Length - 1 };
            foreach (SafetensorsTensorInfo info in file.Tensors.Values)
                foreach (long at in new[] { info.Begin, info.End })
                    boundaries.UnionWith([8 + headerLength + (int)at - 1, 8 + headerLength + (int)at]);
            foreach (int length in boundaries.Where(l => l < good.Length))
                Case($"truncated at {length}", good[..length]);
        }
        for (int i = 8; i < 8 + headerLength; i++)
        {
            byte[] flipped = [.. good];
            flipped[i] ^= (byte)(i % 3 == 0 ? 0x01 : i % 3 == 1 ? 0x20 : 0xFF);
            Case($"header byte {i} flipped", flipped);
        }
        foreach (ulong length in new ulong[] { 0, 1, (ulong)headerLength - 1, (ulong)headerLength + 1, (ulong)good.Length, int.MaxValue, uint.MaxValue, ulong.MaxValue })
        {
            byte[] lying = [.. good];
            BitConverter.GetBytes(length).CopyTo(lying, 0);
            Case($"header length {length}", lying);
        }
        foreach ((string from, string to) in new[]
        {
            ("\"shape\":[8,4]", "\"shape\":[1099511627776,1099511627776]"),
            ("\"shape\":[8,4]", "\"shape\":[4,8]"),
            ("\"shape\":[8,4]", "\"shape\":[16,2]"),
            ("\"dtype\":\"F32\"", "\"dtype\":\"I32\""),
            ("\"dtype\":\"F32\"", "\"dtype\":\"F16\""),
            ("\"dtype\":\"F32\"", "\"dtype\":\"F64\""),
            ("\"dtype\":\"F32\"", "\"dtype\":\"U8\""),
            ("\"wpe.weight\"", "\"wte.weight\""),
            ("\"ln_f.bias\"", "\"transformer.ln_f.weight\""),
            ("\"h.0.ln_1.bias\"", "\"transformer.h.0.ln_1.bias\""),
            ("\"data_offsets\":[0,", "\"data_offsets\":[4,"),
            ("\"data_offsets\":[0,", "\"data_offsets\":[-4,"),
        })
        {
            StringAssert.Contains(header, from, "the writer's header layout changed; update the fuzz cases");
            string changed = header.Replace(from, to);
            byte[] json = Encoding.UTF8.GetBytes(changed);
            Case($"{from} -> {to}", [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. good[(8 + headerLength)..]]);
        }

        Console.WriteLine($"safetensors: {_cases} cases in {watch.ElapsedMilliseconds} ms");
        Assert.IsTrue(_cases > 1000, $"only {_cases} cases");
    }

    [TestMethod]
    public void DamagedTensorFlowCheckpointsAreRejectedOrHarmless()
    {
        var watch = Stopwatch.StartNew();
        using var original = new Gpt2Model(Tiny, CPU);
        string folder = Path.Combine(Directory, "tf");
        Gpt2Checkpoint.Save(original, folder);
        List<(string Name, float[] Values, long[] Shape)> tensors;
        using (var file = SafetensorsFile.Open(Path.Combine(folder, Gpt2Checkpoint.WeightsFileName)))
            tensors = TensorBundleTestWriter.FromHuggingFace(file);
        const string hparams = """{"n_vocab": 8, "n_ctx": 4, "n_embd": 4, "n_head": 1, "n_layer": 1}""";
        TensorBundleTestWriter.WriteReleaseFolder(folder, tensors, hparams);
        string prefix = Path.Combine(folder, "model.ckpt");
        (byte[] data, List<TestBundleEntry> entries) = TensorBundleTestWriter.LayOut(tensors);
        byte[] index = TensorBundleTestWriter.BuildIndex(entries, out List<int> boundaries);
        Gpt2Model Load() => OpenAICheckpoint.Load(folder, CPU);
        void Case(string description, byte[] indexBytes, byte[] dataBytes)
        {
            TensorBundleTestWriter.WriteFiles(prefix, indexBytes, dataBytes);
            Try(description, Load, original);
        }

        Case("undamaged", index, data);
        using (var loaded = Load())
            Assert.IsTrue(original.state_dict()["h.0.attn.c_attn.weight"].equal(loaded.state_dict()["h.0.attn.c_attn.weight"]).all().item<bool>());
        foreach (int at in boundaries.SelectMany(b => new[] { b - 1, b, b + 1 }).Where(l => l >= 0 && l < index.Length).Distinct())
            Case($"index truncated at {at}", index[..at], data);
        foreach (TestBundleEntry entry in entries)
            foreach (long at in new[] { entry.Offset, entry.Offset + entry.Size - 1 })
                Case($"data truncated at {at}", index, data[..(int)at]);
        for (int i = 0; i < index.Length; i++)
        {
            byte[] flipped = [.. index];
            flipped[i] ^= (byte)(i % 3 == 0 ? 0x01 : i % 3 == 1 ? 0x80 : 0xFF);
            Case($"index byte {i} flipped", flipped, data);
        }
        for (int i = 0; i < data.Length; i += 7)
        {
            byte[] flipped = [.. data];
            flipped[i] ^= 0x04;
            Case($"data byte {i} flipped", index, flipped);
        }

        TestBundleEntry first = entries[0];
        var lies = new List<(string, List<TestBundleEntry>)>
        {
            ("offset shifted", [first with { Offset = first.Offset + 4 }, .. entries.Skip(1)]),
            ("offset past the end", [first with { Offset = data.Length }, .. entries.Skip(1)]),
            ("negative offset", [first with { Offset = -4 }, .. entries.Skip(1)]),
            ("size too large", [first with { Size = first.Size + 4 }, .. entries.Skip(1)]),
            ("huge shape", [first with { Shape = [1L << 40, 1L << 40] }, .. entries.Skip(1)]),
            ("negative dimension", [first with { Shape = [-1, 4] }, .. entries.Skip(1)]),
            ("transposed shape", [first with { Shape = [.. first.Shape.Reverse()] }, .. entries.Skip(1)]),
            ("float64", [first with { DataType = 2 }, .. entries.Skip(1)]),
            ("int32", [first with { DataType = 3 }, .. entries.Skip(1)]),
            ("half", [first with { DataType = 19 }, .. entries.Skip(1)]),
            ("second shard", [first with { Shard = 1 }, .. entries.Skip(1)]),
            ("sliced", [first with { Sliced = true }, .. entries.Skip(1)]),
            ("unknown rank", [first with { UnknownRank = true }, .. entries.Skip(1)]),
            ("wrong crc", [first with { MaskedCrc = first.MaskedCrc + 1 }, .. entries.Skip(1)]),
            ("duplicate name", [first, .. entries]),
            ("out of order", [.. entries.AsEnumerable().Reverse()]),
            ("missing tensor", [.. entries.Skip(1)]),
            ("overlap", [first, entries[1] with { Offset = first.Offset }, .. entries.Skip(2)]),
            ("swapped offsets", [first with { Offset = entries[1].Offset, Size = entries[1].Size, MaskedCrc = entries[1].MaskedCrc, Shape = entries[1].Shape },
                entries[1] with { Offset = first.Offset, Size = first.Size, MaskedCrc = first.MaskedCrc, Shape = first.Shape }, .. entries.Skip(2)]),
        };
        foreach ((string description, List<TestBundleEntry> changed) in lies)
            Case(description, TensorBundleTestWriter.BuildIndex(changed, out _), data);
        foreach (int shards in new[] { 0, 2, 100 })
            Case($"{shards} shards", TensorBundleTestWriter.BuildIndex(entries, out _, shardCount: shards), data);

        Console.WriteLine($"TensorFlow checkpoint: {_cases} cases in {watch.ElapsedMilliseconds} ms");
        Assert.IsTrue(_cases > 500, $"only {_cases} cases");
    }
}
