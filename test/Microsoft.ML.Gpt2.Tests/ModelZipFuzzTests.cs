using Gpt2.Torch;
using System.Buffers.Binary;
using System.IO.Compression;
using Gpt2.Torch.Model;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// A fitted classifier's model zip, damaged in many ways (truncated at every structure boundary, bytes flipped in every
/// header field and in each entry's data, lying sizes and offsets, entries removed): loading and predicting must end in
/// an exception that says what is wrong, or predict exactly what the intact zip does; never crash, hang or mislead.
/// </summary>
[TestClass]
public sealed class ModelZipFuzzTests
{
    private const int LocalHeaderSize = 30, CentralHeaderSize = 46, EndRecordSize = 22;
    private static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(20);

    // Each case loads a zip and starts ONNX Runtime (30 to 80 ms), so the test runs every 7th of the about 700 cases
    // (all of them passed once: 317 predicted identically, the rest threw, mostly InvalidDataException and FormatException).
    private const int Stride = 7;
    private static readonly string[] Texts = ["WINNER! Claim your free prize now, call 0800 123 456.", "See you at dinner tonight?"];

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
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
            BaseModel = Gpt2ModelSource.Random(new Gpt2Config { ContextLength = 16, EmbeddingSize = 8, HeadCount = 2, LayerCount = 1, Dropout = 0 }),
            Sentence1ColumnName = "Text", TrainableLayers = TrainableLayers.All, MaxEpochs = 1, MaxLength = 16, Device = CPU,
        }).Fit(data);
        using var stream = new MemoryStream();
        context.Model.Save(model, data.Schema, stream);
        _zip = stream.ToArray();
        _expected = LoadAndPredict(_zip);
    }

    [TestMethod]
    public void EveryDamagedZipFailsClearlyOrPredictsAsTheIntactOne()
    {
        List<(string Name, byte[] Zip)> cases = [.. Cases().Where((_, i) => i % Stride == 0)];
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>();
        foreach ((string name, byte[] zip) in cases)
        {
            string outcome = Run(zip, out string? failure);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            if (failure is not null)
                failures.Add($"{name}: {failure}");
        }
        string summary = $"{cases.Count} cases: " + string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value}"));
        Console.WriteLine(summary);
        Assert.IsEmpty(failures, summary + "\n" + string.Join("\n", failures.Take(30)));
        Assert.IsGreaterThan(90, cases.Count);
    }

    // The outcome's kind for the summary; failure is set when the outcome is a crash, a hang, an unclear error or a changed prediction.
    private static string Run(byte[] zip, out string? failure)
    {
        failure = null;
        Task<Prediction[]> task = Task.Run(() => LoadAndPredict(zip));
        if (Task.WhenAny(task, Task.Delay(CaseTimeLimit)).Result != task)
        {
            failure = $"no result within {CaseTimeLimit.TotalSeconds} s";
            return "hang";
        }
        if (task.Exception?.InnerException is Exception error)
        {
            Exception root = Innermost(error);
            if (!IsClear(error))
                failure = $"unclear {error.GetType().Name} / {root.GetType().Name}: {root.Message}";
            return root.GetType().Name;
        }
        Prediction[] actual = task.Result;
        bool same = actual.Length == _expected.Length && actual.Zip(_expected).All(p =>
            p.First.PredictedLabel == p.Second.PredictedLabel && p.First.Score.SequenceEqual(p.Second.Score));
        if (!same)
            failure = "predictions changed without an error";
        return same ? "identical predictions" : "changed predictions";
    }

    // Programming errors surfacing from the loaders say nothing about the file; everything else names what is wrong.
    private static bool IsClear(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
            if (e is NullReferenceException or IndexOutOfRangeException or AccessViolationException or OutOfMemoryException or OverflowException
                or InvalidCastException || string.IsNullOrWhiteSpace(e.Message))
                return false;
        return true;
    }

    private static Exception Innermost(Exception error)
    {
        while (error.InnerException is not null)
            error = error.InnerException;
        return error;
    }

    private static Prediction[] LoadAndPredict(byte[] zip)
    {
        var context = new MLContext(seed: 1).RegisterGpt2Components();
        using var stream = new MemoryStream(zip, writable: false);
        ITransformer model = context.Model.Load(stream, out _);
        try
        {
            IDataView input = context.Data.LoadFromEnumerable(Texts.Select(text => new Row { Text = text }));
            return [.. context.Data.CreateEnumerable<Prediction>(model.Transform(input), reuseRowObject: false)];
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    private static IEnumerable<(string Name, byte[] Zip)> Cases()
    {
        (List<Entry> entries, int centralDirectory, int endRecord) = Parse(_zip);
        var random = new Random(17);

        // Truncation at every boundary of every structure.
        var cuts = new SortedSet<int> { 0, centralDirectory, endRecord, endRecord + 10, _zip.Length - 1 };
        foreach (Entry entry in entries)
            cuts.UnionWith([entry.LocalHeader, entry.LocalHeader + 14, entry.DataStart, entry.DataStart + entry.DataLength / 2,
                entry.DataStart + entry.DataLength, entry.CentralHeader, entry.CentralHeader + 20]);
        foreach (int cut in cuts.Where(c => c < _zip.Length))
            yield return ($"truncated at {cut}", _zip[..cut]);

        // Flipped bytes in every field of every header, and in each entry's (compressed) data at its ends and at random.
        int[] localFields = [0, 4, 6, 8, 10, 12, 14, 18, 22, 26, 28];
        int[] centralFields = [0, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 30, 32, 34, 36, 38, 42];
        int[] endFields = [0, 4, 6, 8, 10, 12, 16, 20];
        foreach (Entry entry in entries)
        {
            foreach (int field in localFields)
                yield return Flipped($"{entry.Name}: local header byte {field}", entry.LocalHeader + field);
            foreach (int field in centralFields)
                yield return Flipped($"{entry.Name}: central header byte {field}", entry.CentralHeader + field);
            yield return Flipped($"{entry.Name}: name's first byte", entry.CentralHeader + CentralHeaderSize);
            int[] dataBytes = entry.DataLength == 0 ? [] : [0, entry.DataLength - 1, .. Enumerable.Range(0, 3).Select(_ => random.Next(entry.DataLength))];
            foreach (int offset in dataBytes.Distinct())
                yield return Flipped($"{entry.Name}: data byte {offset} of {entry.DataLength}", entry.DataStart + offset);
        }
        foreach (int field in endFields)
            yield return Flipped($"end record byte {field}", endRecord + field);

        // Sizes and offsets that lie, small and huge.
        uint[] lies = [0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF];
        foreach (Entry entry in entries)
            foreach (uint lie in lies)
            {
                yield return Written($"{entry.Name}: compressed size {lie} in the central header", entry.CentralHeader + 20, lie);
                yield return Written($"{entry.Name}: uncompressed size {lie} in the central header", entry.CentralHeader + 24, lie);
                yield return Written($"{entry.Name}: local header offset {lie}", entry.CentralHeader + 42, lie);
                yield return Written($"{entry.Name}: compressed size {lie} in the local header", entry.LocalHeader + 18, lie);
            }
        foreach (uint lie in lies)
        {
            yield return Written($"central directory size {lie}", endRecord + 12, lie);
            yield return Written($"central directory offset {lie}", endRecord + 16, lie);
        }

        // Each entry removed.
        foreach (Entry entry in entries)
            yield return ($"{entry.Name} removed", Without(entry.Name));
    }

    private static (string, byte[]) Flipped(string name, int offset)
    {
        byte[] zip = (byte[])_zip.Clone();
        zip[offset] ^= 0xFF;
        return ($"{name} flipped", zip);
    }

    private static (string, byte[]) Written(string name, int offset, uint value)
    {
        byte[] zip = (byte[])_zip.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(offset), value);
        return (name, zip);
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
