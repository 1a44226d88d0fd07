using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using Microsoft.ML.Gpt2.Data;
using SharpToken;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// The classifier's batched <c>Transform</c> (texts read ahead, one right-padded forward pass per batch) against the
/// oracle of the model run on each row alone, unpadded, with ids from an independent tokenizer (SharpToken); and the
/// read-ahead view itself with a counting batch function.
/// </summary>
[TestClass]
public sealed class BatchedScoringTests
{
    private sealed class Row
    {
        public string Text { get; set; } = "";
        public string Second { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private sealed class Unlabelled
    {
        public string Text { get; set; } = "";
        public string Second { get; set; } = "";
    }

    private sealed class Scored
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    private static readonly GptEncoding Reference = GptEncoding.GetEncoding("r50k_base");

    private static readonly Gpt2Config TinyConfig = new() { ContextLength = 128, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    /// <summary>Texts of very different lengths (1 to about 90 tokens), so that one batch pads most of its rows.</summary>
    private static readonly string[] Texts =
    [
        "hi",
        "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward! To claim call 09061701461. " +
            "Claim code KL341. Valid 12 hours only. Reply STOP to end, or text HELP for the terms and conditions of this offer today.",
        "ok",
        "Are we still on for dinner tonight?",
        "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. Text FA to 87121 to receive entry question(std txt rate)",
        "Sorry, I'll call later",
        "U dun say so early hor... U c already then say...",
        "Six chances to win CASH! From 100 to 20,000 pounds txt> CSH11 and send to 87575. Cost 150p/day, 6days, 16+ TsandCs apply Reply HL 4 info",
        "k",
        "I'm gonna be home soon and i don't want to talk about this stuff anymore tonight, k? I've cried enough today.",
    ];

    private static MLContext _context = null!;
    private static IDataView _keyed = null!;
    private static Gpt2TextClassificationTransformer _single = null!;
    private static Gpt2TextClassificationTransformer _pairs = null!;

    [ClassInitialize]
    public static void TrainOnce(TestContext context)
    {
        _context = new MLContext(seed: 1);
        (List<SmsSpamData.Message> train, _) = SmsSpamData.BalancedSplit(perClass: 40, trainFraction: 1);
        var random = new Random(3);
        IDataView data = _context.Data.LoadFromEnumerable(train.Select(m => new Row
        {
            Text = m.Text,
            Second = random.Next(2) == 0 ? "yes, please" : "no, thanks, not now",
            Label = m.Label,
        }));
        _keyed = _context.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        _single = new Gpt2TextClassifier(_context, Options(pairs: false)).Fit(_keyed);
        _pairs = new Gpt2TextClassifier(_context, Options(pairs: true)).Fit(_keyed);
    }

    [ClassCleanup]
    public static void Release()
    {
        _single?.Dispose();
        _pairs?.Dispose();
    }

    private static Gpt2TextClassifier.Options Options(bool pairs) => new()
    {
        BaseModel = LanguageModelSource.Random(TinyConfig),
        Sentence1ColumnName = nameof(Row.Text),
        Sentence2ColumnName = pairs ? nameof(Row.Second) : null,
        TrainableLayers = TrainableLayers.All,
        LearningRate = 3e-3,
        MaxEpochs = 2,
        MaxLength = 120,   // longer than every text here: the oracle needs no truncation
        // Single texts: 10 rows read ahead as 4, 4 and 2, each run as one padded pass; pairs: all 10 at once, run shortest
        // first as passes of 8 and 2, so that the scores come back out of order.
        ScoringBatchSize = pairs ? 16 : 4,
        Device = CPU,
    };

    /// <summary>Rows to score (no label column), with the two second texts in turn.</summary>
    private static IDataView Data(IEnumerable<string> texts) =>
        _context.Data.LoadFromEnumerable(texts.Select((text, i) => new Unlabelled { Text = text, Second = i % 2 == 0 ? "no, thanks, not now" : "yes, please" }));

    private static float[] Alone(Gpt2TextClassificationTransformer classifier, int[] ids) => classifier.Model.PredictProbabilities([ids])[0];

    private static void AssertScoresEqual(float[][] expected, Scored[] actual)
    {
        Assert.AreEqual(expected.Length, actual.Length);
        for (int row = 0; row < expected.Length; row++)
        {
            Assert.AreEqual(expected[row].Length, actual[row].Score.Length, $"row {row}");
            for (int c = 0; c < expected[row].Length; c++)
                Assert.AreEqual(expected[row][c], actual[row].Score[c], 1e-5, $"row {row}, class {c}");
            // The key is the class index plus one; the first of equal maxima wins.
            Assert.AreEqual((uint)Array.IndexOf(expected[row], expected[row].Max()) + 1, actual[row].PredictedLabel, $"row {row}");
        }
    }

    [TestMethod]
    public void BatchedTransformScoresEachRowAsTheModelAloneDoes()
    {
        float[][] expected = [.. Texts.Select(text => Alone(_single, [.. Reference.Encode(text)]))];
        Assert.AreEqual(Texts.Length, expected.Select(p => p[0]).Distinct().Count(), "the oracle's scores differ from row to row");
        Scored[] batched = [.. _context.Data.CreateEnumerable<Scored>(_single.Transform(Data(Texts)), reuseRowObject: false)];
        AssertScoresEqual(expected, batched);

        var engine = _context.Model.CreatePredictionEngine<Unlabelled, Scored>(_single);
        AssertScoresEqual(expected, [.. Texts.Select(text => engine.Predict(new Unlabelled { Text = text }))]);
    }

    [TestMethod]
    public void BatchedTransformScoresSentencePairsAsTheModelAloneDoes()
    {
        int eot = Gpt2Tokenizer.EndOfTextTokenId;
        IDataView data = Data(Texts);
        string[] seconds = [.. data.GetColumn<string>(nameof(Row.Second))];
        float[][] expected = [.. Texts.Select((text, i) => Alone(_pairs, [.. Reference.Encode(text), eot, .. Reference.Encode(seconds[i])]))];
        Scored[] batched = [.. _context.Data.CreateEnumerable<Scored>(_pairs.Transform(data), reuseRowObject: false)];
        AssertScoresEqual(expected, batched);
    }

    [TestMethod]
    public void PredictedLabelIsTheLabelsKeyWithItsKeyValues()
    {
        IDataView scored = _single.Transform(Data(Texts));
        Assert.AreEqual(_single.GetOutputSchema(_keyed.Schema)["PredictedLabel"].Type, scored.Schema["PredictedLabel"].Type);
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 2), scored.Schema["PredictedLabel"].Type);
        VBuffer<ReadOnlyMemory<char>> keyValues = default, labelValues = default;
        scored.Schema["PredictedLabel"].GetKeyValues(ref keyValues);
        _keyed.Schema["Label"].GetKeyValues(ref labelValues);
        CollectionAssert.AreEqual(labelValues.DenseValues().Select(v => v.ToString()).ToArray(), keyValues.DenseValues().Select(v => v.ToString()).ToArray());
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        scored.Schema["Score"].GetSlotNames(ref slotNames);
        CollectionAssert.AreEqual(labelValues.DenseValues().Select(v => v.ToString()).ToArray(), slotNames.DenseValues().Select(v => v.ToString()).ToArray());

        string[] labels = [.. _context.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel").Fit(scored).Transform(scored).GetColumn<string>("PredictedText")];
        uint[] keys = [.. scored.GetColumn<uint>("PredictedLabel")];
        CollectionAssert.AreEqual(keys.Select(k => labelValues.GetItemOrDefault((int)k - 1).ToString()).ToArray(), labels);
        Assert.IsTrue(_context.MulticlassClassification.Evaluate(_single.Transform(_keyed)).MacroAccuracy > 0.5);
    }

    [TestMethod]
    public void CursorsOverSubsetsAndSideBySideServeTheSameRows()
    {
        IDataView scored = _single.Transform(Data(Texts));
        float[][] all = [.. scored.GetColumn<float[]>("Score")];

        // Only a passed-through column: no scoring, and the added columns are inactive.
        using (DataViewRowCursor textOnly = scored.GetRowCursor([scored.Schema["Text"]]))
        {
            Assert.IsFalse(textOnly.IsColumnActive(scored.Schema["Score"]));
            ValueGetter<ReadOnlyMemory<char>> text = textOnly.GetGetter<ReadOnlyMemory<char>>(scored.Schema["Text"]);
            ReadOnlyMemory<char> value = default;
            var read = new List<string>();
            while (textOnly.MoveNext())
            {
                text(ref value);
                read.Add(value.ToString());
            }
            CollectionAssert.AreEqual(Texts, read);
            Assert.ThrowsExactly<InvalidOperationException>(() => textOnly.GetGetter<VBuffer<float>>(scored.Schema["Score"]));
        }

        // Two cursors moved in turn, the second reading only the predicted label: each serves its own rows.
        using DataViewRowCursor first = scored.GetRowCursor(scored.Schema);
        using DataViewRowCursor second = scored.GetRowCursor([scored.Schema["PredictedLabel"]]);
        ValueGetter<VBuffer<float>> score = first.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
        ValueGetter<uint> key = second.GetGetter<uint>(scored.Schema["PredictedLabel"]);
        Assert.ThrowsExactly<InvalidOperationException>(() => first.GetGetter<float>(scored.Schema["Score"]));
        VBuffer<float> buffer = default;
        uint predicted = 0;
        for (int row = 0; row < Texts.Length; row++)
        {
            Assert.IsTrue(first.MoveNext());
            score(ref buffer);
            CollectionAssert.AreEqual(all[row], buffer.DenseValues().ToArray(), $"row {row}");
            Assert.AreEqual(row, first.Position);
            Assert.IsTrue(second.MoveNext());
            key(ref predicted);
            Assert.AreEqual((uint)Array.IndexOf(all[row], all[row].Max()) + 1, predicted, $"row {row}");
        }
        Assert.IsFalse(first.MoveNext());
        Assert.IsFalse(second.MoveNext());
    }

    [TestMethod]
    public void AnEmptyDataViewScoresToNoRows()
    {
        IDataView scored = _single.Transform(Data([]));
        Assert.AreEqual(0L, scored.GetRowCount());
        using DataViewRowCursor cursor = scored.GetRowCursor(scored.Schema);
        Assert.IsFalse(cursor.MoveNext());
        Assert.IsEmpty(scored.GetColumn<float[]>("Score").ToArray());
    }

    [TestMethod]
    public void AnEmptyTextFailsNamingTheColumn()
    {
        IDataView scored = _single.Transform(Data(["fine", ""]));
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => scored.GetColumn<float[]>("Score").ToArray()).Message, "'Text'");
    }

    [TestMethod]
    public void TheViewReadsAheadABatchAtATimeAndOnlyWhenAnAddedColumnIsAsked()
    {
        var batches = new List<int>();
        IDataView input = _context.Data.LoadFromEnumerable(Texts.Select(text => new Row { Text = text }));
        var view = new BatchMappedDataView<int>(input, [nameof(Row.Text)],
            [new AddedColumn<int, int>("Length", NumberDataViewType.Int32, (int length, ref int value) => value = length)],
            rows =>
            {
                batches.Add(rows.Count);
                return [.. rows.Select(row => row[0]!.Length)];
            }, batchSize: 4);

        CollectionAssert.AreEqual(Texts.Select(text => text.Length).ToArray(), view.GetColumn<int>("Length").ToArray());
        CollectionAssert.AreEqual(new[] { 4, 4, 2 }, batches);
        batches.Clear();
        CollectionAssert.AreEqual(Texts, view.GetColumn<string>(nameof(Row.Text)).ToArray());
        Assert.IsEmpty(batches, "a cursor without an added column maps nothing");
        using DataViewRowCursor cursor = view.GetRowCursor(view.Schema);
        int value = 0;
        Assert.ThrowsExactly<InvalidOperationException>(() => cursor.GetGetter<int>(view.Schema["Length"])(ref value), "not on a row yet");
        Assert.IsTrue(cursor.MoveNext());
        CollectionAssert.AreEqual(new[] { 4 }, batches, "the first row reads its batch ahead");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new BatchMappedDataView<int>(input, [nameof(Row.Text)], [], rows => [], batchSize: 0));
    }

    [TestMethod]
    public void AScoringBatchSizeBelowOneIsRefused()
    {
        Gpt2TextClassifier.Options options = Options(pairs: false);
        options.ScoringBatchSize = 0;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextClassifier(_context, options)).Message, "ScoringBatchSize");
    }
}
