using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Exported models run in ONNX Runtime (CPU, full graph optimisation) against TorchSharp: the reference fixture and a
/// random model without QKV bias and with an untied head; padded batches against each row run alone.
/// </summary>
[TestClass]
public sealed class OnnxExportTests : TemporaryDirectoryTest
{
    private const double Tolerance = 1e-4;

    private static Gpt2Model _fixture = null!;
    private static Gpt2Model _random = null!;

    [ClassInitialize]
    public static void CreateModels(TestContext _)
    {
        _fixture = Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU);
        _fixture.eval();
        manual_seed(7);
        _random = new Gpt2Model(new Gpt2Config
        {
            VocabSize = 97, ContextLength = 24, EmbeddingSize = 32, HeadCount = 4, LayerCount = 2, Dropout = 0.0,
            QkvBias = false, TieWordEmbeddings = false,
        }, CPU);
        _random.eval();
        // GPT-2's initialisation leaves biases at 0 and LayerNorm weights at 1; move them so that every parameter matters.
        using var noGrad = no_grad();
        foreach (Tensor parameter in _random.parameters())
            parameter.add_(randn_like(parameter) * 0.05);
    }

    [ClassCleanup]
    public static void Release()
    {
        _fixture.Dispose();
        _random.Dispose();
    }

    [TestMethod]
    public void FixtureLogitsMatchTheReferenceImplementations()
    {
        using var scope = NewDisposeScope();
        using var expected = SafetensorsFile.Open(Path.Combine(TestPaths.TinyGpt2, "expected.safetensors"));
        long[] ids = expected.ReadTensor("input_ids.0").data<long>().ToArray();
        using var session = new OnnxSession(Export(_fixture));

        var (logits, shape) = session.Run(Inputs(Batch([ids], leftPadding: false)), Gpt2OnnxNames.Logits)[Gpt2OnnxNames.Logits];

        CollectionAssert.AreEqual(new long[] { 1, ids.Length, 1000 }, shape);
        AssertClose(expected.ReadTensor("logits.0"), tensor(logits).view(ids.Length, 1000), "logits.0");
    }

    [TestMethod]
    [DataRow("fixture", false)]
    [DataRow("fixture", true)]
    [DataRow("random", false)]
    [DataRow("random", true)]
    public void PaddedBatchLogitsMatchEachRowRunAlone(string modelName, bool leftPadding)
    {
        Gpt2Model model = Model(modelName);
        using var session = new OnnxSession(Export(model));
        long[][] rows = RandomRows(model, [7, 3, 5], seed: 1);
        AssertLogitsMatchRowsRunAlone(model, session, rows, leftPadding);
    }

    [TestMethod]
    [DataRow("fixture")]
    [DataRow("random")]
    public void OneFileServesDifferentBatchSizesAndLengths(string modelName)
    {
        Gpt2Model model = Model(modelName);
        using var session = new OnnxSession(Export(model));
        AssertLogitsMatchRowsRunAlone(model, session, RandomRows(model, [4], seed: 2), leftPadding: false);
        AssertLogitsMatchRowsRunAlone(model, session, RandomRows(model, [11, 16], seed: 3), leftPadding: true);
    }

    [TestMethod]
    [DataRow("fixture", 2, true, false)]
    [DataRow("fixture", 2, true, true)]
    [DataRow("random", 3, false, false)]
    [DataRow("random", 3, true, true)]
    public void ClassifierGivesTheHeadAtEachRowsLastRealToken(string modelName, int classes, bool withBias, bool leftPadding)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Gpt2Model model = Model(modelName);
        manual_seed(classes);
        Tensor weight = randn(classes, model.Config.EmbeddingSize), bias = randn(classes);
        using var session = new OnnxSession(Export(model, new Gpt2OnnxExportOptions { ClassifierWeight = weight, ClassifierBias = withBias ? bias : null }));
        long[][] rows = RandomRows(model, [6, 1, 9], seed: 4);

        var outputs = session.Run(Inputs(Batch(rows, leftPadding)), Gpt2OnnxNames.Logits, Gpt2OnnxNames.Probabilities);

        Tensor logits = tensor(outputs[Gpt2OnnxNames.Logits].Values).view(rows.Length, classes);
        Tensor probabilities = tensor(outputs[Gpt2OnnxNames.Probabilities].Values).view(rows.Length, classes);
        CollectionAssert.AreEqual(new long[] { rows.Length, classes }, outputs[Gpt2OnnxNames.Probabilities].Shape);
        for (int row = 0; row < rows.Length; row++)
        {
            Tensor last = model.ComputeHiddenStates(tensor(rows[row]).unsqueeze(0))[0, -1];
            Tensor expected = nn.functional.linear(last, weight, withBias ? bias : null);
            AssertClose(expected, logits[row], $"logits of row {row}");
            AssertClose(expected.softmax(-1), probabilities[row], $"probabilities of row {row}");
            Assert.AreEqual(1.0, probabilities[row].sum().item<float>(), 1e-5, $"row {row}'s probabilities sum to 1");
        }
    }

    [TestMethod]
    public void InputsAndOutputsHaveSymbolicBatchAndSequenceDimensions()
    {
        using var noGrad = no_grad();
        using Tensor weight = randn(3, 32);
        using var languageModel = new OnnxSession(Export(_random));
        using var classifier = new OnnxSession(Export(_random, new Gpt2OnnxExportOptions { ClassifierWeight = weight }));

        foreach (string input in new[] { Gpt2OnnxNames.InputIds, Gpt2OnnxNames.AttentionMask })
        {
            NodeMetadata metadata = languageModel.Session.InputMetadata[input];
            Assert.AreEqual(typeof(long), metadata.ElementType, input);
            CollectionAssert.AreEqual(new[] { "batch", "sequence" }, metadata.SymbolicDimensions, input);
        }
        NodeMetadata logits = languageModel.Session.OutputMetadata[Gpt2OnnxNames.Logits];
        CollectionAssert.AreEqual(new[] { "batch", "sequence", "" }, logits.SymbolicDimensions);
        CollectionAssert.AreEqual(new[] { -1, -1, 97 }, logits.Dimensions);
        CollectionAssert.AreEquivalent(new[] { Gpt2OnnxNames.Logits, Gpt2OnnxNames.Probabilities }, classifier.Session.OutputMetadata.Keys.ToArray());
        CollectionAssert.AreEqual(new[] { -1, 3 }, classifier.Session.OutputMetadata[Gpt2OnnxNames.Probabilities].Dimensions);
    }

    [TestMethod]
    public void AClassifierDropsTrailingPaddingColumnsAndKeepsTheFirstMaxSequenceLengthTokens()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(3);
        Tensor weight = randn(2, _random.Config.EmbeddingSize), bias = randn(2);
        using var session = new OnnxSession(Export(_random, new Gpt2OnnxExportOptions { ClassifierWeight = weight, ClassifierBias = bias, MaxSequenceLength = 5 }));
        long[][] rows = RandomRows(_random, [7, 2, 4], seed: 9);
        // Right-padded far beyond the longest row, as ML.NET's fixed-size vectors are.
        (long[,] ids, long[,] mask) = Batch([.. rows, new long[20]], leftPadding: false);
        ids = Rows(ids, 3);
        mask = Rows(mask, 3);

        var outputs = session.Run(Inputs((ids, mask)), Gpt2OnnxNames.Logits);
        Tensor logits = tensor(outputs[Gpt2OnnxNames.Logits].Values).view(rows.Length, 2);
        for (int row = 0; row < rows.Length; row++)
        {
            long[] kept = rows[row][..Math.Min(5, rows[row].Length)];
            Tensor expected = nn.functional.linear(_random.ComputeHiddenStates(tensor(kept).unsqueeze(0))[0, -1], weight, bias);
            AssertClose(expected, logits[row], $"row {row}");
        }
        Assert.ThrowsExactly<ArgumentException>(() => Export(_random, new Gpt2OnnxExportOptions { MaxSequenceLength = 5 }));
    }

    private static long[,] Rows(long[,] values, int count)
    {
        var result = new long[count, values.GetLength(1)];
        for (int row = 0; row < count; row++)
            for (int column = 0; column < values.GetLength(1); column++)
                result[row, column] = values[row, column];
        return result;
    }

    [TestMethod]
    public void AClassifierHeadOfTheWrongShapeIsRefused()
    {
        using Tensor wrongWidth = zeros(2, 31), weight = zeros(2, 32), wrongBias = zeros(3);
        string path = Path.Combine(Directory, "model.onnx");

        var exception = Assert.ThrowsExactly<ArgumentException>(() =>
            Gpt2OnnxExporter.Export(_random, path, new Gpt2OnnxExportOptions { ClassifierWeight = wrongWidth }));
        StringAssert.Contains(exception.Message, "[classes, 32]");
        exception = Assert.ThrowsExactly<ArgumentException>(() =>
            Gpt2OnnxExporter.Export(_random, path, new Gpt2OnnxExportOptions { ClassifierWeight = weight, ClassifierBias = wrongBias }));
        StringAssert.Contains(exception.Message, "[2]");
        Assert.ThrowsExactly<ArgumentException>(() =>
            Gpt2OnnxExporter.Export(_random, path, new Gpt2OnnxExportOptions { ClassifierBias = wrongBias }));
        Assert.IsFalse(File.Exists(path));
    }

    [TestMethod]
    [DynamicData(nameof(ConfigVariants))]
    public void EachConfigVariantExportsWithTheReferenceLogits(string variant)
    {
        using var scope = NewDisposeScope();
        using var model = ConfigVariantFixture.Load(variant, Directory);
        long[] ids = ConfigVariantFixture.InputIds;
        using var session = new OnnxSession(Export(model));

        var (logits, _) = session.Run(Inputs(Batch([ids], leftPadding: false)), Gpt2OnnxNames.Logits)[Gpt2OnnxNames.Logits];

        AssertClose(ConfigVariantFixture.Expected.ReadTensor($"logits.{variant}"), tensor(logits).view(ids.Length, model.Config.VocabSize), variant);
        AssertLogitsMatchRowsRunAlone(model, session, RandomRows(model, [9, 4], seed: 3), leftPadding: true);
    }

    public static IEnumerable<object[]> ConfigVariants => ConfigVariantFixture.Names.Select(name => new object[] { name });

    private static Gpt2Model Model(string name) => name == "fixture" ? _fixture : _random;

    private string Export(Gpt2Model model, Gpt2OnnxExportOptions? options = null)
    {
        string path = Path.Combine(Directory, $"{Guid.NewGuid():N}.onnx");
        Gpt2OnnxExporter.Export(model, path, options);
        return path;
    }

    private static void AssertLogitsMatchRowsRunAlone(Gpt2Model model, OnnxSession session, long[][] rows, bool leftPadding)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int length = rows.Max(row => row.Length), vocab = model.Config.VocabSize;

        var (values, shape) = session.Run(Inputs(Batch(rows, leftPadding)), Gpt2OnnxNames.Logits)[Gpt2OnnxNames.Logits];

        CollectionAssert.AreEqual(new long[] { rows.Length, length, vocab }, shape);
        Tensor logits = tensor(values).view(rows.Length, length, vocab);
        for (int row = 0; row < rows.Length; row++)
        {
            Tensor alone = model.Forward(tensor(rows[row]).unsqueeze(0))[0];
            Tensor real = logits[row].narrow(0, leftPadding ? length - rows[row].Length : 0, rows[row].Length);
            AssertClose(alone, real, $"row {row} ({(leftPadding ? "left" : "right")} padding)");
        }
    }

    private static long[][] RandomRows(Gpt2Model model, int[] lengths, int seed)
    {
        var random = new Random(seed);
        return [.. lengths.Select(length => Enumerable.Range(0, length).Select(_ => (long)random.Next(model.Config.VocabSize)).ToArray())];
    }

    // Rows padded to the longest, with 0 in the mask and arbitrary token ids (not a pad token) in the padding.
    private static (long[,] Ids, long[,] Mask) Batch(long[][] rows, bool leftPadding)
    {
        int length = rows.Max(row => row.Length);
        var ids = new long[rows.Length, length];
        var mask = new long[rows.Length, length];
        for (int row = 0; row < rows.Length; row++)
        {
            int start = leftPadding ? length - rows[row].Length : 0;
            for (int position = 0; position < length; position++)
            {
                int index = position - start;
                bool real = index >= 0 && index < rows[row].Length;
                ids[row, position] = real ? rows[row][index] : 11 + position;
                mask[row, position] = real ? 1 : 0;
            }
        }
        return (ids, mask);
    }

    private static Dictionary<string, long[,]> Inputs((long[,] Ids, long[,] Mask) batch) => new()
    {
        [Gpt2OnnxNames.InputIds] = batch.Ids,
        [Gpt2OnnxNames.AttentionMask] = batch.Mask,
    };

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        CollectionAssert.AreEqual(expected.shape, actual.shape, what);
        double maxError = (expected - actual).abs().max().item<float>();
        Assert.IsTrue(maxError < Tolerance, $"{what} differ by up to {maxError}.");
    }
}
