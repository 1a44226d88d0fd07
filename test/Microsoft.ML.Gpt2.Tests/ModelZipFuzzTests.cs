using Gpt2.Torch;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Reflection;
using Gpt2.Torch.Model;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// A fitted classifier's model zip, damaged in many ways (truncated at every structure boundary, bytes flipped in every
/// header field and in each entry's data, lying sizes and offsets, entries removed): loading and predicting must end in
/// an exception of a type its class of damage allows, with a message that names the problem, or predict exactly what the
/// intact zip does (label names included); never crash, hang or mislead. The test prints its case count and each class's
/// outcomes, with the entries whose content changed when predictions did not.
/// </summary>
[TestClass]
public sealed class ModelZipFuzzTests
{
    private const int LocalHeaderSize = 30, CentralHeaderSize = 46, EndRecordSize = 22;
    private static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(20);

    // Each case loads a zip and starts ONNX Runtime (30 to 80 ms), so the suite runs every 7th of the about 760 cases;
    // GPT2MLNET_FUZZ_ALL=1 runs them all (40 to 80 s).
    private const int Stride = 7;

    /// <summary>Set to 1 to run the whole corpus instead of every <see cref="Stride"/>th case.</summary>
    public const string RunAllVariable = "GPT2MLNET_FUZZ_ALL";

    private static bool RunAll => Environment.GetEnvironmentVariable(RunAllVariable) is "1" or "true";

    private static readonly string[] Texts = ["WINNER! Claim your free prize now, call 0800 123 456.", "See you at dinner tonight?"];

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }

        // The predicted label's name, from the key values of PredictedLabel (the value mapping's DefaultMap.idv).
        [NoColumn]
        public string LabelName { get; set; } = "";
    }

    private sealed class Row
    {
        public string Text { get; set; } = "";
    }

    /// <summary>One stored file of the zip: where its local header, data and central directory record are.</summary>
    private sealed record Entry(string Name, int LocalHeader, int DataStart, int DataLength, int CentralHeader);

    private static byte[] _zip = null!;
    private static Prediction[] _expected = null!;

    [ClassInitialize]
    public static void SaveATinyClassifier(TestContext _)
    {
        var context = new MLContext(seed: 1);
        List<SmsSpamData.Message> train = SmsSpamData.BalancedSplit(perClass: 16, trainFraction: 1.0).Train;
        IDataView data = context.Data.LoadFromEnumerable(train);
        data = context.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        using Gpt2TextClassificationTransformer model = context.MulticlassClassification.Trainers.Gpt2(new Gpt2TextClassifier.Options
        {
            BaseModel = LanguageModelSource.Random(new Gpt2Config { ContextLength = 16, EmbeddingSize = 8, HeadCount = 2, LayerCount = 1, Dropout = 0 }),
            Sentence1ColumnName = "Text", TrainableLayers = TrainableLayers.All, MaxEpochs = 1, MaxLength = 16, Device = CPU,
        }).Fit(data);
        using var stream = new MemoryStream();
        context.Model.Save(model, data.Schema, stream);
        _zip = stream.ToArray();
        _expected = LoadAndPredict(_zip);
    }

    // What each class of damage may end in: the root exception types (under the wrappers ML.NET and reflection add) and the
    // words one message of the chain must hold. The messages are System.IO.Compression's and ML.NET's: the zip structure
    // for damage to it, ML.NET's loaders for damage inside an entry. Every class but truncation and a lying central
    // directory offset may also load and predict identically when the damage is in a field no reader checks (times,
    // versions, local sizes, CRCs) or in an entry ML.NET does not need.
    private static readonly string[] ZipWords = ["Central Directory", "zip archive", "spanned archives"];
    private static readonly string[] EntryWords = [.. ZipWords, "local file header", "compression method", "Corrupt model file", "end of the stream",
        "header size", "file type", "too new", "too old", "signature", "codec", "binary dataview file"];
    private static readonly Dictionary<string, (Type[] Roots, string[] Words)> Allowed = new()
    {
        ["truncated"] = ([typeof(InvalidDataException), typeof(IOException)], ZipWords),
        ["end record field"] = ([typeof(InvalidDataException)], ZipWords),
        ["central directory offset"] = ([typeof(InvalidDataException)], ZipWords),
        ["central directory size"] = ([typeof(InvalidDataException)], ZipWords),
        ["central header field"] = ([typeof(InvalidDataException), typeof(FormatException), typeof(EndOfStreamException)], EntryWords),
        ["central compressed size"] = ([typeof(InvalidDataException), typeof(FormatException), typeof(EndOfStreamException)], EntryWords),
        ["central uncompressed size"] = ([typeof(InvalidDataException), typeof(FormatException), typeof(EndOfStreamException)], EntryWords),
        ["local header offset"] = ([typeof(InvalidDataException), typeof(FormatException), typeof(EndOfStreamException)], EntryWords),
        ["local header field"] = ([typeof(InvalidDataException), typeof(FormatException), typeof(EndOfStreamException)], EntryWords),
        ["local compressed size"] = ([typeof(InvalidDataException), typeof(FormatException), typeof(EndOfStreamException)], EntryWords),
        ["entry name"] = ([typeof(FormatException)], EntryWords),
        ["entry removed"] = ([typeof(FormatException)], EntryWords),
        // A flipped byte in a Model.key can garble the loader assembly's name, which ML.NET then fails to load by it.
        ["entry data"] = ([typeof(InvalidDataException), typeof(FormatException), typeof(EndOfStreamException),
            typeof(FileLoadException), typeof(FileNotFoundException), typeof(System.Globalization.CultureNotFoundException)], [.. EntryWords, "assembly", "culture"]),
        // The ONNX model's bytes differ from run to run (training is not bit-reproducible), so its cases do too: a flip that
        // survives decompression reaches ONNX Runtime, which refuses a malformed model with its own exception.
        ["ONNX model data"] = ([typeof(InvalidDataException), typeof(FormatException), typeof(EndOfStreamException),
            typeof(Microsoft.ML.OnnxRuntime.OnnxRuntimeException)], [.. EntryWords, "ONNX", "protobuf"]),
    };

    // Entries ML.NET does not read to predict: damage to them may go unnoticed.
    private static readonly string[] UnneededEntries = ["TrainingInfo/Version.txt", "Schema"];

    // Known gap: ML.NET reads each entry by its own length prefixes and signatures, never to the entry's end, so the zip's
    // CRC-32 is never checked, and the model zip has no checksum of its own. A flipped byte that decompresses cleanly
    // into a value no prediction of the two test texts uses (a weight of an unused token in the ONNX model, a Model.key
    // field ML.NET ignores) loads silently. Counted and printed, not failed, until the model zip carries a checksum;
    // changed predictions still fail.
    private const string KnownGapOutcome = "KNOWN GAP: identical predictions from a changed entry (no CRC check)";

    [TestMethod]
    public void EveryDamagedZipFailsClearlyOrPredictsAsTheIntactOne()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        List<(string Class, string Name, byte[] Zip)> cases = [.. Cases().Where((_, i) => RunAll || i % Stride == 0)];
        var failures = new List<string>();
        var tally = new Dictionary<(string Class, string Outcome), (int Count, string Example)>();
        foreach ((string @class, string name, byte[] zip) in cases)
        {
            string outcome = Run(@class, zip, out string? failure, out string example);
            tally[(@class, outcome)] = tally.TryGetValue((@class, outcome), out var seen) ? (seen.Count + 1, seen.Example) : (1, example);
            if (failure is not null)
                failures.Add($"[{@class}] {name}: {failure}");
        }
        Console.WriteLine($"{cases.Count} cases{(RunAll ? " (whole corpus)" : $" (every {Stride}th; {RunAllVariable}=1 runs all)")} in {watch.ElapsedMilliseconds} ms");
        foreach (((string @class, string outcome), (int count, string example)) in tally.OrderBy(t => t.Key.Class, StringComparer.Ordinal).ThenByDescending(t => t.Value.Count))
            Console.WriteLine($"  {@class} | {outcome} | {count} | {(example.Length > 240 ? example[..240] + "..." : example)}");
        Assert.IsEmpty(failures, $"{failures.Count} of {cases.Count} cases broke their allow-list:\n" + string.Join("\n", failures.Take(40)));
        Assert.IsGreaterThan(90, cases.Count);
    }

    // The outcome for the tally; failure is set for a hang, an exception outside the class's allow-list, a message that
    // names no problem, changed predictions, or a load of damage that must be refused.
    private static string Run(string @class, byte[] zip, out string? failure, out string example)
    {
        failure = null;
        example = "";
        Task<Prediction[]> task = Task.Run(() => LoadAndPredict(zip));
        if (Task.WhenAny(task, Task.Delay(CaseTimeLimit)).Result != task)
        {
            failure = $"no result within {CaseTimeLimit.TotalSeconds} s";
            return "hang";
        }
        (Type[] roots, string[] words) = Allowed[@class];
        if (task.Exception?.InnerException is Exception error)
        {
            var chain = new List<Exception>();
            for (Exception? e = error; e is not null; e = e.InnerException)
                chain.Add(e);
            Exception root = chain[^1];
            example = string.Join(" > ", chain.Select(e => $"{e.GetType().Name}: {e.Message}"));
            if (chain.SkipLast(1).FirstOrDefault(e => e is not (TargetInvocationException or InvalidOperationException or FormatException or InvalidDataException)) is { } wrapper)
                failure = $"{wrapper.GetType().Name} wraps the error: {example}";
            else if (!roots.Contains(root.GetType()))
                failure = $"{root.GetType().Name} is not among {string.Join(", ", roots.Select(t => t.Name))}: {example}\n{root.StackTrace}";
            else if (!chain.Any(e => words.Any(word => e.Message.Contains(word, StringComparison.OrdinalIgnoreCase))) && !IsMLNetDecodeCheck(root))
                failure = $"no message says any of '{string.Join("', '", words)}': {example}";
            return root.GetType().Name + (chain.Count > 1 ? $" (in {string.Join(" > ", chain.SkipLast(1).Select(e => e.GetType().Name))})" : "");
        }
        if (@class is "truncated" or "central directory offset")
        {
            failure = "loaded although this damage must be refused";
            return "loaded";
        }
        Prediction[] actual = task.Result;
        bool same = actual.Length == _expected.Length && actual.Zip(_expected).All(p =>
            p.First.PredictedLabel == p.Second.PredictedLabel && p.First.LabelName == p.Second.LabelName && p.First.Score.SequenceEqual(p.Second.Score));
        if (!same)
        {
            failure = "predictions changed without an error";
            return "changed predictions";
        }
        string[] changed = [.. ChangedEntries(zip).Except(UnneededEntries)];
        if (changed.Length == 0)
            return "identical predictions";
        example = "changed: " + string.Join(", ", changed);
        return KnownGapOutcome;
    }

    // ML.NET's decoder checks (Contracts.CheckDecode and the model header's) throw FormatException with .NET's default
    // message, which names neither the entry nor the problem; accepted from ML.NET itself only, never from this library.
    private static bool IsMLNetDecodeCheck(Exception root) =>
        root is FormatException && root.Message == new FormatException().Message
        && root.TargetSite?.DeclaringType?.FullName is string type && type.StartsWith("Microsoft.ML.", StringComparison.Ordinal)
        && !type.StartsWith("Microsoft.ML.Gpt2", StringComparison.Ordinal);

    // The entries whose content is not the intact zip's: missing, unreadable or different (each read to its end).
    private static IEnumerable<string> ChangedEntries(byte[] zip)
    {
        using var original = new ZipArchive(new MemoryStream(_zip), ZipArchiveMode.Read);
        ZipArchive damaged;
        try
        {
            damaged = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            return original.Entries.Select(e => e.FullName).ToArray();
        }
        using (damaged)
        {
            var changed = new List<string>();
            foreach (ZipArchiveEntry entry in original.Entries)
            {
                bool same;
                try
                {
                    same = damaged.GetEntry(entry.FullName) is { } other && ReadAll(entry).AsSpan().SequenceEqual(ReadAll(other));
                }
                catch (Exception e) when (e is InvalidDataException or IOException)
                {
                    same = false;
                }
                if (!same)
                    changed.Add(entry.FullName);
            }
            return changed;
        }
    }

    private static byte[] ReadAll(ZipArchiveEntry entry)
    {
        using Stream stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static Prediction[] LoadAndPredict(byte[] zip)
    {
        var context = new MLContext(seed: 1).RegisterGpt2Components();
        using var stream = new MemoryStream(zip, writable: false);
        ITransformer model = context.Model.Load(stream, out _);
        try
        {
            IDataView input = context.Data.LoadFromEnumerable(Texts.Select(text => new Row { Text = text }));
            IDataView output = model.Transform(input);
            VBuffer<ReadOnlyMemory<char>> names = default;
            output.Schema["PredictedLabel"].GetKeyValues(ref names);
            Prediction[] predictions = [.. context.Data.CreateEnumerable<Prediction>(output, reuseRowObject: false)];
            foreach (Prediction prediction in predictions)
                prediction.LabelName = prediction.PredictedLabel is > 0 && prediction.PredictedLabel <= names.Length
                    ? names.GetItemOrDefault((int)prediction.PredictedLabel - 1).ToString() : "(none)";
            return predictions;
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    private static IEnumerable<(string Class, string Name, byte[] Zip)> Cases()
    {
        (List<Entry> entries, int centralDirectory, int endRecord) = Parse(_zip);

        // Truncation at every boundary of every structure.
        var cuts = new SortedSet<int> { 0, centralDirectory, endRecord, endRecord + 10, _zip.Length - 1 };
        foreach (Entry entry in entries)
            cuts.UnionWith([entry.LocalHeader, entry.LocalHeader + 14, entry.DataStart, entry.DataStart + entry.DataLength / 2,
                entry.DataStart + entry.DataLength, entry.CentralHeader, entry.CentralHeader + 20]);
        foreach (int cut in cuts.Where(c => c < _zip.Length))
            yield return ("truncated", $"truncated at {cut}", _zip[..cut]);

        // Flipped bytes in every field of every header, and in each entry's (compressed) data at its ends and at random.
        int[] localFields = [0, 4, 6, 8, 10, 12, 14, 18, 22, 26, 28];
        int[] centralFields = [0, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 30, 32, 34, 36, 38, 42];
        int[] endFields = [0, 4, 6, 8, 10, 12, 16, 20];
        foreach (Entry entry in entries)
        {
            foreach (int field in localFields)
                yield return Flipped("local header field", $"{entry.Name}: local header byte {field}", entry.LocalHeader + field);
            foreach (int field in centralFields)
                yield return Flipped("central header field", $"{entry.Name}: central header byte {field}", entry.CentralHeader + field);
            yield return Flipped("entry name", $"{entry.Name}: name's first byte", entry.CentralHeader + CentralHeaderSize);
            // Seeded by the entry's name, so that ML.NET's entries, whose bytes do not change between runs, get the same cases every run.
            var random = new Random(entry.Name.Aggregate(17, (hash, c) => unchecked(hash * 31 + c)));
            int[] dataBytes = entry.DataLength == 0 ? [] : [0, entry.DataLength - 1, .. Enumerable.Range(0, 3).Select(_ => random.Next(entry.DataLength))];
            foreach (int offset in dataBytes.Distinct())
                yield return Flipped(entry.Name.EndsWith("OnnxModel", StringComparison.Ordinal) ? "ONNX model data" : "entry data", $"{entry.Name}: data byte {offset} of {entry.DataLength}", entry.DataStart + offset);
        }
        foreach (int field in endFields)
            yield return Flipped("end record field", $"end record byte {field}", endRecord + field);

        // Sizes and offsets that lie, small and huge.
        uint[] lies = [0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF];
        foreach (Entry entry in entries)
            foreach (uint lie in lies)
            {
                yield return Written("central compressed size", $"{entry.Name}: compressed size {lie} in the central header", entry.CentralHeader + 20, lie);
                yield return Written("central uncompressed size", $"{entry.Name}: uncompressed size {lie} in the central header", entry.CentralHeader + 24, lie);
                yield return Written("local header offset", $"{entry.Name}: local header offset {lie}", entry.CentralHeader + 42, lie);
                yield return Written("local compressed size", $"{entry.Name}: compressed size {lie} in the local header", entry.LocalHeader + 18, lie);
            }
        foreach (uint lie in lies)
        {
            yield return Written("central directory size", $"central directory size {lie}", endRecord + 12, lie);
            yield return Written("central directory offset", $"central directory offset {lie}", endRecord + 16, lie);
        }

        // Each entry removed.
        foreach (Entry entry in entries)
            yield return ("entry removed", $"{entry.Name} removed", Without(entry.Name));
    }

    private static (string, string, byte[]) Flipped(string @class, string name, int offset)
    {
        byte[] zip = (byte[])_zip.Clone();
        zip[offset] ^= 0xFF;
        return (@class, $"{name} flipped", zip);
    }

    private static (string, string, byte[]) Written(string @class, string name, int offset, uint value)
    {
        byte[] zip = (byte[])_zip.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(offset), value);
        return (@class, name, zip);
    }

    private static byte[] Without(string entryName)
    {
        using var stream = new MemoryStream();
        stream.Write(_zip);
        using (var archive = new ZipArchive(stream, ZipArchiveMode.Update, leaveOpen: true))
            archive.GetEntry(entryName)!.Delete();
        return stream.ToArray();
    }

    private static (List<Entry> Entries, int CentralDirectory, int EndRecord) Parse(byte[] zip)
    {
        int end = zip.Length - EndRecordSize;
        while (BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(end)) != 0x06054b50)
            end--;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(end + 10));
        int directory = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(end + 16));
        var entries = new List<Entry>();
        for (int i = 0, at = directory; i < count; i++)
        {
            Assert.AreEqual(0x02014b50u, BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(at)), "central header signature");
            int compressed = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(at + 20));
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 28));
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 30));
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 32));
            int local = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(at + 42));
            string name = System.Text.Encoding.UTF8.GetString(zip, at + CentralHeaderSize, nameLength);
            int dataStart = local + LocalHeaderSize + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(local + 26)) + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(local + 28));
            entries.Add(new Entry(name, local, dataStart, compressed, at));
            at += CentralHeaderSize + nameLength + extraLength + commentLength;
        }
        return (entries, directory, end);
    }
}
