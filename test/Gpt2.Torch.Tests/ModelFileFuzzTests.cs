using System.Diagnostics;
using System.Text;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Damaged safetensors and TensorFlow checkpoints. Each class of damage has its own allow-list: the exception types it
/// may end in, words (one of them, any case) its message must hold besides the damaged file's name, and whether it may
/// instead load exactly the original weights (a damaged byte nobody reads, such as footer padding). Anything else (another
/// exception type, a vague message, a silently different model) fails the test with the case named. Every case runs;
/// the TensorFlow data file has every 7th byte flipped, or every byte with <c>GPT2MLNET_FUZZ_ALL=1</c>.
/// </summary>
[TestClass]
public sealed class ModelFileFuzzTests : TemporaryDirectoryTest
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 8, ContextLength = 4, EmbeddingSize = 4, HeadCount = 1, LayerCount = 1, Dropout = 0 };

    /// <summary>Set to 1 to run the whole corpus (every data byte flipped) instead of a sample.</summary>
    public const string RunAllVariable = "GPT2MLNET_FUZZ_ALL";

    private static bool RunAll => Environment.GetEnvironmentVariable(RunAllVariable) is "1" or "true";

    /// <summary>What one class of damage may end in.</summary>
    /// <param name="Errors">The exception types allowed (exactly these types, not subclasses).</param>
    /// <param name="Words">The message must hold one of these (ignoring case), besides the damaged file's name.</param>
    /// <param name="MayLoad">Whether loading exactly the original weights is also right (a damaged byte nobody reads).</param>
    private sealed record Expectation(Type[] Errors, string[] Words, bool MayLoad = false);

    private readonly Dictionary<(string Class, string Outcome), (int Count, string Example)> _tally = [];
    private readonly List<string> _failures = [];
    private int _cases;

    private void Try(string @class, string description, Expectation expected, Func<Gpt2Model> load, Gpt2Model original, params string[] files)
    {
        _cases++;
        string outcome, example;
        string? failure = null;
        try
        {
            using Gpt2Model loaded = load();
            outcome = "loaded the original weights";
            example = "";
            foreach ((string name, Tensor value) in original.state_dict())
                if (!loaded.state_dict().TryGetValue(name, out Tensor? other) || !value.equal(other).all().item<bool>())
                {
                    outcome = "loaded different weights";
                    failure = $"loaded a model whose {name} differs from the original";
                    break;
                }
            if (failure is null && !expected.MayLoad)
                failure = "loaded although this damage must be refused";
        }
        catch (Exception e)
        {
            outcome = e.GetType().Name;
            example = e.Message;
            if (!expected.Errors.Contains(e.GetType()))
                failure = $"{e.GetType().Name} is not among {string.Join(", ", expected.Errors.Select(t => t.Name))}: {e}";
            else if (!files.Any(file => e.Message.Contains(Path.GetFileName(file), StringComparison.Ordinal)))
                failure = $"the message names none of {string.Join(", ", files.Select(Path.GetFileName))}: {e.Message}";
            else if (!expected.Words.Any(word => e.Message.Contains(word, StringComparison.OrdinalIgnoreCase)))
                failure = $"the message says none of '{string.Join("', '", expected.Words)}': {e.Message}";
        }
        _tally[(@class, outcome)] = _tally.TryGetValue((@class, outcome), out var seen) ? (seen.Count + 1, seen.Example) : (1, example);
        if (failure is not null)
            _failures.Add($"[{@class}] {description}: {failure}");
    }

    // Prints the cases run and each class's outcomes, then fails with every case that broke its class's allow-list.
    private void Report(string format, long milliseconds, int minimumCases)
    {
        Console.WriteLine($"{format}: {_cases} cases{(RunAll ? " (whole corpus)" : "")} in {milliseconds} ms");
        foreach (((string @class, string outcome), (int count, string example)) in _tally.OrderBy(t => t.Key.Class, StringComparer.Ordinal).ThenByDescending(t => t.Value.Count))
            Console.WriteLine($"  {@class} | {outcome} | {count} | {(example.Length > 200 ? example[..200] + "..." : example)}");
        Assert.IsEmpty(_failures, $"{_failures.Count} of {_cases} cases broke their allow-list:\n" + string.Join("\n", _failures.Take(40)));
        Assert.IsGreaterThan(minimumCases, _cases);
    }

    private static readonly Type[] FormatError = [typeof(CheckpointFormatException)];

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
        void Case(string @class, string description, Expectation expected, byte[] bytes)
        {
            File.WriteAllBytes(path, bytes);
            Try(@class, description, expected, Load, original, path);
        }

        var truncated = new Expectation(FormatError, ["truncated", "fewer than"]);
        using (var file = SafetensorsFile.Open(path))
        {
            var boundaries = new SortedSet<int> { 0, 1, 7, 8, 9, 8 + headerLength - 1, 8 + headerLength, good.Length - 1 };
            foreach (SafetensorsTensorInfo info in file.Tensors.Values)
                foreach (long at in new[] { info.Begin, info.End })
                    boundaries.UnionWith([8 + headerLength + (int)at - 1, 8 + headerLength + (int)at]);
            foreach (int length in boundaries.Where(l => l < good.Length))
                Case("truncated", $"truncated at {length}", truncated, good[..length]);
        }
        // Only the metadata strings and the padding after the JSON are read by no one; any other flipped byte must be refused.
        var flippedHeader = new Expectation(FormatError, ["header", "tensor"]);
        var flippedMetadata = flippedHeader with { MayLoad = true };
        int metadataStart = 8 + header.IndexOf("\"__metadata__\"", StringComparison.Ordinal);
        int metadataEnd = 8 + header.IndexOf('}', metadataStart - 8) + 1;
        int paddingStart = 8 + header.TrimEnd(' ').Length;
        Assert.IsGreaterThan(8, metadataStart, "the writer no longer writes __metadata__; update the fuzz cases");
        for (int i = 8; i < 8 + headerLength; i++)
        {
            byte[] flipped = [.. good];
            flipped[i] ^= (byte)(i % 3 == 0 ? 0x01 : i % 3 == 1 ? 0x20 : 0xFF);
            bool unread = (i >= metadataStart && i < metadataEnd) || i >= paddingStart;
            Case(unread ? "metadata or padding byte flipped" : "header byte flipped", $"header byte {i} flipped", unread ? flippedMetadata : flippedHeader, flipped);
        }
        var lyingLength = new Expectation(FormatError, ["header"]);
        foreach (ulong length in new ulong[] { 0, 1, (ulong)headerLength - 1, (ulong)headerLength + 1, (ulong)good.Length, int.MaxValue, uint.MaxValue, ulong.MaxValue })
        {
            byte[] lying = [.. good];
            BitConverter.GetBytes(length).CopyTo(lying, 0);
            Case("header length", $"header length {length}", lyingLength, lying);
        }
        foreach ((string @class, string from, string to, Expectation expected) in new (string, string, string, Expectation)[]
        {
            ("huge shape", "\"shape\":[8,4]", "\"shape\":[1099511627776,1099511627776]", new(FormatError, ["shape"])),
            ("transposed shape", "\"shape\":[8,4]", "\"shape\":[4,8]", new(FormatError, ["shape"])),
            ("reshaped", "\"shape\":[8,4]", "\"shape\":[16,2]", new(FormatError, ["shape"])),
            ("integer dtype", "\"dtype\":\"F32\"", "\"dtype\":\"I32\"", new(FormatError, ["floating point"])),
            ("narrower dtype", "\"dtype\":\"F32\"", "\"dtype\":\"F16\"", new(FormatError, ["data_offsets"])),
            ("wider dtype", "\"dtype\":\"F32\"", "\"dtype\":\"F64\"", new(FormatError, ["data_offsets"])),
            ("byte dtype", "\"dtype\":\"F32\"", "\"dtype\":\"U8\"", new(FormatError, ["data_offsets"])),
            ("duplicate name", "\"wpe.weight\"", "\"wte.weight\"", new(FormatError, ["twice"])),
            ("two names for one parameter", "\"ln_f.bias\"", "\"transformer.ln_f.weight\"", new(FormatError, ["both hold"])),
            ("prefixed name", "\"h.0.ln_1.bias\"", "\"transformer.h.0.ln_1.bias\"", new([], [], MayLoad: true)),
            ("offset shifted", "\"data_offsets\":[0,", "\"data_offsets\":[4,", new(FormatError, ["data_offsets"])),
            ("negative offset", "\"data_offsets\":[0,", "\"data_offsets\":[-4,", new(FormatError, ["data_offsets"])),
        })
        {
            StringAssert.Contains(header, from, "the writer's header layout changed; update the fuzz cases");
            string changed = header.Replace(from, to);
            byte[] json = Encoding.UTF8.GetBytes(changed);
            Case(@class, $"{from} -> {to}", expected, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. good[(8 + headerLength)..]]);
        }

        Report("safetensors", watch.ElapsedMilliseconds, 1000);
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
        string indexPath = prefix + ".index", dataPath = prefix + ".data-00000-of-00001";
        (byte[] data, List<TestBundleEntry> entries) = TensorBundleTestWriter.LayOut(tensors);
        byte[] index = TensorBundleTestWriter.BuildIndex(entries, out List<int> boundaries);
        Gpt2Model Load() => OpenAICheckpoint.Load(folder, CPU);
        void Case(string @class, string description, Expectation expected, byte[] indexBytes, byte[] dataBytes)
        {
            TensorBundleTestWriter.WriteFiles(prefix, indexBytes, dataBytes);
            Try(@class, description, expected, Load, original, indexPath, dataPath);
        }

        Case("undamaged", "undamaged", new([], [], MayLoad: true), index, data);
        using (var loaded = Load())
            Assert.IsTrue(original.state_dict()["h.0.attn.c_attn.weight"].equal(loaded.state_dict()["h.0.attn.c_attn.weight"]).all().item<bool>());
        var truncatedIndex = new Expectation(FormatError, ["truncated"]);
        foreach (int at in boundaries.SelectMany(b => new[] { b - 1, b, b + 1 }).Where(l => l >= 0 && l < index.Length).Distinct())
            Case("index truncated", $"index truncated at {at}", truncatedIndex, index[..at], data);
        var truncatedData = new Expectation(FormatError, ["truncated"]);
        foreach (TestBundleEntry entry in entries)
            foreach (long at in new[] { entry.Offset, entry.Offset + entry.Size - 1 })
                Case("data truncated", $"data truncated at {at}", truncatedData, index, data[..(int)at]);
        // The reader skips the (empty) metaindex block and the footer's padding; any other flipped byte must be refused.
        var flippedIndex = new Expectation(FormatError, ["corrupt", "truncated"]);
        var flippedUnread = flippedIndex with { MayLoad = true };
        int footerStart = index.Length - 48, footerAt = footerStart;
        int Varint()
        {
            int value = 0;
            for (int shift = 0; ; shift += 7)
            {
                value |= (index[footerAt] & 0x7F) << shift;
                if (index[footerAt++] < 0x80)
                    return value;
            }
        }
        int metaindexStart = Varint(), metaindexEnd = metaindexStart + Varint() + 5; // the block and its 5-byte trailer
        for (int i = 0; i < index.Length; i++)
        {
            byte[] flipped = [.. index];
            flipped[i] ^= (byte)(i % 3 == 0 ? 0x01 : i % 3 == 1 ? 0x80 : 0xFF);
            if ((i >= metaindexStart && i < metaindexEnd) || (i >= footerStart && i < footerStart + 40))
                Case("metaindex or footer handle byte flipped", $"index byte {i} flipped", flippedUnread, flipped, data);
            else
                Case("index byte flipped", $"index byte {i} flipped", flippedIndex, flipped, data);
        }
        var flippedData = new Expectation(FormatError, ["CRC"]);
        for (int i = 0; i < data.Length; i += RunAll ? 1 : 7)
        {
            byte[] flipped = [.. data];
            flipped[i] ^= 0x04;
            Case("data byte flipped", $"data byte {i} flipped", flippedData, index, flipped);
        }

        TestBundleEntry first = entries[0];
        int matrixAt = entries.FindIndex(e => e.Shape.Length == 3);
        TestBundleEntry matrix = entries[matrixAt];
        var lies = new List<(string, List<TestBundleEntry>, Expectation)>
        {
            ("offset shifted", [first with { Offset = first.Offset + 4 }, .. entries.Skip(1)], new(FormatError, ["overlap"])),
            ("offset past the end", [first with { Offset = data.Length }, .. entries.Skip(1)], new(FormatError, ["past the end"])),
            ("negative offset", [first with { Offset = -4 }, .. entries.Skip(1)], new(FormatError, ["offset"])),
            ("size too large", [first with { Size = first.Size + 4 }, .. entries.Skip(1)], new(FormatError, ["size", "bytes"])),
            ("huge shape", [first with { Shape = [1L << 40, 1L << 40] }, .. entries.Skip(1)], new(FormatError, ["shape"])),
            ("negative dimension", [first with { Shape = [-1, 4] }, .. entries.Skip(1)], new(FormatError, ["shape", "dimension"])),
            ("transposed shape", [.. entries.Take(matrixAt), matrix with { Shape = [.. matrix.Shape.Reverse()] }, .. entries.Skip(matrixAt + 1)], new(FormatError, ["shape"])),
            ("float64", [first with { DataType = 2 }, .. entries.Skip(1)], new(FormatError, ["dtype"])),
            ("int32", [first with { DataType = 3 }, .. entries.Skip(1)], new(FormatError, ["dtype"])),
            ("half", [first with { DataType = 19 }, .. entries.Skip(1)], new(FormatError, ["dtype"])),
            ("second shard", [first with { Shard = 1 }, .. entries.Skip(1)], new(FormatError, ["data file"])),
            ("sliced", [first with { Sliced = true }, .. entries.Skip(1)], new(FormatError, ["slices"])),
            ("unknown rank", [first with { UnknownRank = true }, .. entries.Skip(1)], new(FormatError, ["unknown rank"])),
            ("wrong crc", [first with { MaskedCrc = first.MaskedCrc + 1 }, .. entries.Skip(1)], new(FormatError, ["CRC"])),
            ("duplicate name", [first, .. entries], new(FormatError, ["twice"])),
            ("out of order", [.. entries.AsEnumerable().Reverse()], new(FormatError, ["out of order"])),
            ("missing tensor", [.. entries.Skip(1)], new(FormatError, ["missing"])),
            ("overlap", [first, entries[1] with { Offset = first.Offset }, .. entries.Skip(2)], new(FormatError, ["overlap"])),
            ("swapped offsets", [first with { Offset = entries[1].Offset, Size = entries[1].Size, MaskedCrc = entries[1].MaskedCrc, Shape = entries[1].Shape },
                entries[1] with { Offset = first.Offset, Size = first.Size, MaskedCrc = first.MaskedCrc, Shape = first.Shape }, .. entries.Skip(2)], new(FormatError, ["shape"])),
        };
        foreach ((string description, List<TestBundleEntry> changed, Expectation expected) in lies)
            Case(description, description, expected, TensorBundleTestWriter.BuildIndex(changed, out _), data);
        foreach (int shards in new[] { 0, 2, 100 })
            Case("shard count", $"{shards} shards", new(FormatError, ["data files"]), TensorBundleTestWriter.BuildIndex(entries, out _, shardCount: shards), data);

        Report("TensorFlow checkpoint", watch.ElapsedMilliseconds, 500);
    }
}
