using Gpt2.Torch;
using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// Gpt2TextGenerator over a tiny random GPT-2: batched lazy Transform against Gpt2Generator row by row, the prediction
/// engine, the model zip (ONNX Runtime's GreedySearch) against the in-memory text, and bad input.
/// </summary>
[TestClass]
public sealed class Gpt2TextGeneratorTests
{
    internal static readonly Gpt2Config TinyConfig = new() { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    private static readonly string[] Prompts =
    [
        "Every effort moves you",
        "The quick brown fox jumps over",
        "Hi",
        "In the beginning the Universe was created. This has made a lot of people very angry",
        "Once upon a time",
        string.Join(" ", Enumerable.Range(1, 40).Select(i => $"word{i}")),
    ];

    public sealed class PromptRow
    {
        public int Id { get; set; }
        public string Prompt { get; set; } = "";
    }

    public sealed class GeneratedRow
    {
        public int Id { get; set; }
        public string GeneratedText { get; set; } = "";
    }

    private static IDataView Data(MLContext mlContext, IEnumerable<string> prompts) =>
        mlContext.Data.LoadFromEnumerable(prompts.Select((prompt, i) => new PromptRow { Id = i, Prompt = prompt }).ToArray());

    private static Gpt2TextGenerator.Options Options(int maxNewTokens = 12) => new()
    {
        BaseModel = LanguageModelSource.Random(TinyConfig),
        Generation = { Sampling = new() { MaxNewTokens = maxNewTokens }, BatchSize = 2 },
        Device = CPU,
    };

    private static Gpt2TextGenerationTransformer Fit(MLContext mlContext, Gpt2TextGenerator.Options options, IDataView data)
    {
        manual_seed(7);
        return new Gpt2TextGenerator(mlContext, options).Fit(data);
    }

    private static string Alone(CausalLanguageModel model, string prompt, int maxNewTokens)
    {
        int[] ids = Gpt2Tokenizer.Default.Encode(prompt);
        ids = ids[Math.Max(0, ids.Length - (model.Config.ContextLength - maxNewTokens))..];
        int[] output = new Gpt2Generator(model).Generate(ids, new GenerationOptions { MaxNewTokens = maxNewTokens });
        return Gpt2Tokenizer.Default.Decode(output[ids.Length..].TakeWhile(id => id != Gpt2Tokenizer.EndOfTextTokenId));
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void BatchedTransformEqualsEachPromptGeneratedAloneAndKeepsTheOtherColumns(bool onnxRuntime)
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts);
        Gpt2TextGenerator.Options options = Options();
        options.Generation.Engine = onnxRuntime ? DecodingEngine.OnnxRuntime() : DecodingEngine.TorchSharp;
        using Gpt2TextGenerationTransformer generator = Fit(mlContext, options, data);

        GeneratedRow[] rows = [.. mlContext.Data.CreateEnumerable<GeneratedRow>(generator.Transform(data), reuseRowObject: false)];

        CollectionAssert.AreEqual(Enumerable.Range(0, Prompts.Length).ToArray(), rows.Select(r => r.Id).ToArray());
        for (int i = 0; i < Prompts.Length; i++)
            Assert.AreEqual(Alone(generator.Model, Prompts[i], 12), rows[i].GeneratedText, $"row {i}");
        Assert.IsTrue(rows.All(r => r.GeneratedText.Length > 0));
        Assert.AreEqual(onnxRuntime, generator.GenerationService.UsesOnnxRuntime, "the engine that decoded (Alone decodes with TorchSharp)");
    }

    [TestMethod]
    public void ModelZipGeneratesTheSameTextInOnnxRuntime()
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts);
        using Gpt2TextGenerationTransformer generator = Fit(mlContext, Options(), data);
        string[] expected = [.. mlContext.Data.CreateEnumerable<GeneratedRow>(generator.Transform(data), reuseRowObject: false).Select(r => r.GeneratedText)];
        (MLContext loadingContext, ITransformer loaded, DataViewSchema inputSchema) = SaveAndLoad(mlContext, generator, data.Schema);

        string[] actual = [.. loadingContext.Data.CreateEnumerable<GeneratedRow>(loaded.Transform(Data(loadingContext, Prompts)), reuseRowObject: false)
            .Select(r => r.GeneratedText)];
        CollectionAssert.AreEqual(expected, actual);
        Assert.IsNotNull(inputSchema.GetColumnOrNull("Prompt"));
        var engine = loadingContext.Model.CreatePredictionEngine<PromptRow, GeneratedRow>(loaded);
        Assert.AreEqual(expected[2], engine.Predict(new PromptRow { Prompt = Prompts[2] }).GeneratedText);
    }

    /// <summary>Saves <paramref name="model"/> as a zip and loads it in a new MLContext, deleting the file.</summary>
    internal static (MLContext Context, ITransformer Model, DataViewSchema InputSchema) SaveAndLoad(MLContext mlContext, ITransformer model, DataViewSchema schema)
    {
        string path = Path.Combine(Path.GetTempPath(), $"gpt2-{Guid.NewGuid():N}.zip");
        try
        {
            mlContext.Model.Save(model, schema, path);
            var loadingContext = new MLContext();
            return (loadingContext, loadingContext.Model.Load(path, out DataViewSchema inputSchema), inputSchema);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void ACheckpointDirectoryOfTheTrainerIsAModelSource()
    {
        string directory = Path.Combine(Path.GetTempPath(), $"gpt2-trainer-{Guid.NewGuid():N}");
        try
        {
            manual_seed(3);
            using var model = new Gpt2Model(TinyConfig, CPU);
            int[] text = Gpt2Tokenizer.Default.Encode(string.Join(" ", Prompts));
            var batches = new NextTokenBatches(new NextTokenWindows(text, maxLength: 16, stride: 16), batchSize: 2);
            using (var trainer = new LanguageModelTrainer(model, new LanguageModelTrainingOptions { Epochs = 1, MaxSteps = 2, LearningRate = 1e-2, CheckpointDirectory = directory }))
                trainer.Train(batches, batches);
            var mlContext = new MLContext(1);
            IDataView data = Data(mlContext, Prompts);
            Gpt2TextGenerator.Options options = Options();
            options.BaseModel = directory;

            using Gpt2TextGenerationTransformer generator = new Gpt2TextGenerator(mlContext, options).Fit(data);

            Assert.IsTrue(generator.Model.state_dict().All(p => p.Value.equal(model.state_dict()[p.Key]).all().item<bool>()), "the trained weights");
            CollectionAssert.AreEqual(Prompts.Select(p => Alone(model, p, 12)).ToArray(), generator.Transform(data).GetColumn<string>("GeneratedText").ToArray());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void ProgressFollowsTheBatchesAndTheSamplingSeedDecidesTheDraws()
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts);
        var progress = new List<TextGenerationProgress>();
        Gpt2TextGenerator.Options Sampling(long seed)
        {
            Gpt2TextGenerator.Options options = Options();
            options.Generation.Sampling = options.Generation.Sampling with { Temperature = 1.5, TopK = 50, Seed = seed };
            return options;
        }
        string[] Draw(Gpt2TextGenerationTransformer generator) => [.. generator.Transform(data).GetColumn<string>("GeneratedText")];
        Gpt2TextGenerator.Options options = Sampling(42);
        options.Generation.Progress = progress.Add;
        using Gpt2TextGenerationTransformer generator = Fit(mlContext, options, data);
        using Gpt2TextGenerationTransformer sameSeed = Fit(mlContext, Sampling(42), data);
        using Gpt2TextGenerationTransformer otherSeed = Fit(mlContext, Sampling(43), data);

        string[] first = Draw(generator);
        // Global randomness in between must not change seeded draws; another generator with the seed repeats them.
        manual_seed(1234);
        rand(100).Dispose();
        CollectionAssert.AreEqual(first, Draw(sameSeed), "the same seed in a separately fitted generator");
        CollectionAssert.AreEqual(first, Draw(generator), "the same generator again");
        CollectionAssert.AreNotEqual(first, Draw(otherSeed), "another seed draws otherwise");
        // Six prompts two at a time, generated twice by the first generator: progress after each batch, counted on.
        CollectionAssert.AreEqual(new long[] { 2, 4, 6, 8, 10, 12 }, progress.Select(p => p.RowsCompleted).ToArray());
        Assert.IsTrue(progress[^1].TokensGenerated > 0 && progress[^1].TokensGenerated <= 12 * 12);
        var error = Assert.ThrowsExactly<NotSupportedException>(() => mlContext.Model.Save(generator, data.Schema, Path.Combine(Path.GetTempPath(), "never.zip")));
        StringAssert.Contains(error.Message, "Generation.Sampling.TopK is 50");
    }

    [TestMethod]
    public void ASamplingGeneratorSavesAsOnnxRuntimesSamplingOperator()
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts);
        Gpt2TextGenerator.Options options = Options();
        // So peaked that sampling gives the greedy text in both runtimes.
        options.Generation.Sampling = options.Generation.Sampling with { Temperature = 1e-4, Seed = 5 };
        using Gpt2TextGenerationTransformer generator = Fit(mlContext, options, data);
        string[] expected = [.. generator.Transform(data).GetColumn<string>("GeneratedText")];
        (MLContext loadingContext, ITransformer loaded, _) = SaveAndLoad(mlContext, generator, data.Schema);

        CollectionAssert.AreEqual(expected, loaded.Transform(Data(loadingContext, Prompts)).GetColumn<string>("GeneratedText").ToArray());
        CollectionAssert.AreEqual(Prompts.Select(p => Alone(generator.Model, p, 12)).ToArray(), expected);
    }

    [TestMethod]
    public void ASaveThatFailsMidwayLeavesThePreviousZipInPlace()
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts);
        string folder = Path.Combine(Path.GetTempPath(), $"gpt2-atomic-{Guid.NewGuid():N}");
        string path = Path.Combine(folder, "generator.zip");
        try
        {
            using (Gpt2TextGenerationTransformer greedy = Fit(mlContext, Options(), data))
                mlContext.Model.SaveAtomically(greedy, data.Schema, path);
            byte[] saved = File.ReadAllBytes(path);
            Gpt2TextGenerator.Options topK = Options();
            topK.Generation.Sampling = topK.Generation.Sampling with { Temperature = 1, TopK = 5 };
            using Gpt2TextGenerationTransformer unsaveable = Fit(mlContext, topK, data);

            // ML.NET has begun the zip when the transformer refuses to save.
            Assert.ThrowsExactly<NotSupportedException>(() => mlContext.Model.SaveAtomically(unsaveable, data.Schema, path));

            CollectionAssert.AreEqual(saved, File.ReadAllBytes(path));
            CollectionAssert.AreEqual(new[] { path }, Directory.GetFiles(folder), "no temporary file is left behind");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void NonFiniteSamplingOptionsAreRefusedNamingTheOption()
    {
        var mlContext = new MLContext(1);
        foreach ((Action<Gpt2TextGenerator.Options> change, string message) in new (Action<Gpt2TextGenerator.Options>, string)[]
        {
            (o => o.Generation.Sampling = o.Generation.Sampling with { Temperature = double.PositiveInfinity }, "Generation.Sampling.Temperature is Infinity"),
            (o => o.Generation.Sampling = o.Generation.Sampling with { Temperature = double.NaN }, "Generation.Sampling.Temperature is NaN"),
            (o => o.Generation.Sampling = o.Generation.Sampling with { Temperature = 1, TopP = double.NaN }, "Generation.Sampling.TopP is NaN; it must be in (0, 1]"),
        })
        {
            Gpt2TextGenerator.Options options = Options();
            change(options);
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextGenerator(mlContext, options)).Message, message);
        }
    }

    private static Gpt2TextGenerator Estimator(MLContext mlContext, Gpt2TextGenerator.Options options, bool throughTheCatalog) =>
        throughTheCatalog ? mlContext.Transforms.Text.Gpt2TextGenerator(options) : new Gpt2TextGenerator(mlContext, options);

    private static void CancelExecution(MLContext mlContext) =>
        // MLContext.CancelExecution is internal to ML.NET (its AutoML calls it); reached the way ML.NET does.
        typeof(MLContext).GetMethod("CancelExecution", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.Invoke(mlContext, null);

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void FittingInACancelledMLContextSaysANewContextIsNeeded(bool throughTheCatalog)
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts[..2]);
        Gpt2TextGenerator estimator = Estimator(mlContext, Options(), throughTheCatalog);
        CancelExecution(mlContext);

        var error = Assert.ThrowsExactly<OperationCanceledException>(() => estimator.Fit(data));

        StringAssert.Contains(error.Message, "MLContext was cancelled");
        StringAssert.Contains(error.Message, "new MLContext");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void CancellingTheMLContextStopsGenerationAtTheNextBatch(bool throughTheCatalog)
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts);
        Gpt2TextGenerator.Options options = Options();
        int batches = 0;
        options.Generation.Progress = _ => { if (++batches == 1) CancelExecution(mlContext); };
        using Gpt2TextGenerationTransformer generator = Estimator(mlContext, options, throughTheCatalog).Fit(data);

        using DataViewRowCursor cursor = generator.Transform(data).GetRowCursor(generator.GetOutputSchema(data.Schema));
        int rows = 0;
        var error = Assert.ThrowsExactly<OperationCanceledException>(() => { while (cursor.MoveNext()) rows++; });
        StringAssert.Contains(error.Message, "MLContext was cancelled");
        Assert.AreEqual(1, batches, "no batch after the cancellation");
        Assert.IsLessThan(Prompts.Length, rows);
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TheMLContextsLogHearsTheEstimatorsMLNetComponents(bool throughTheCatalog)
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts[..2]);
        var sources = new List<string>();
        mlContext.Log += (_, e) => { lock (sources) sources.Add(e.Source); };

        using Gpt2TextGenerationTransformer generator = Estimator(mlContext, Options(), throughTheCatalog).Fit(data);

        Assert.IsNotEmpty(sources, "nothing reached the context's log");
        if (throughTheCatalog)
            Assert.IsTrue(sources.All(source => source.StartsWith("Gpt2MLNet", StringComparison.Ordinal)), string.Join(", ", sources.Distinct()));
    }

    [TestMethod]
    public void ASamplingSeedBeyondOnnxRuntimesIntRefusesToSaveInsteadOfBeingCut()
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts[..2]);
        Gpt2TextGenerator.Options options = Options();
        options.Generation.Sampling = options.Generation.Sampling with { Temperature = 1, Seed = int.MaxValue + 1L }; // was saved as int.MinValue: another seed than the one fitted
        using Gpt2TextGenerationTransformer generator = Fit(mlContext, options, data);

        var error = Assert.ThrowsExactly<NotSupportedException>(() => mlContext.Model.Save(generator, data.Schema, Path.Combine(Path.GetTempPath(), "never.zip")));

        StringAssert.Contains(error.Message, "Generation.Sampling.Seed is 2147483648");
        StringAssert.Contains(error.Message, "-2147483648 to 2147483647");
    }

    [TestMethod]
    public void CancellationStopsGenerationAtTheNextToken()
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts);
        using var cancellation = new CancellationTokenSource();
        Gpt2TextGenerator.Options options = Options();
        options.CancellationToken = cancellation.Token;
        options.Generation.Progress = _ => cancellation.Cancel();
        using Gpt2TextGenerationTransformer generator = Fit(mlContext, options, data);

        using DataViewRowCursor cursor = generator.Transform(data).GetRowCursor(generator.GetOutputSchema(data.Schema));
        Assert.IsTrue(cursor.MoveNext());
        Assert.IsTrue(cursor.MoveNext());
        Assert.ThrowsExactly<OperationCanceledException>(() => cursor.MoveNext());
    }

    [TestMethod]
    public void BadInputIsRefusedNamingTheProblem()
    {
        var mlContext = new MLContext(1);
        IDataView data = Data(mlContext, Prompts);
        var numbers = mlContext.Data.LoadFromEnumerable(new[] { new { Prompt = 1f } });
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new Gpt2TextGenerator(mlContext, Options()).Fit(numbers)).Message, "'Prompt' must hold a string");
        var other = Options();
        other.InputColumnName = "Question";
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new Gpt2TextGenerator(mlContext, other).Fit(data)).Message, "'Question'");
        var tooMany = Options(maxNewTokens: 64);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextGenerator(mlContext, tooMany).Fit(data)).Message, "context length");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2TextGenerator(mlContext, Options(maxNewTokens: 0)));

        using Gpt2TextGenerationTransformer generator = Fit(mlContext, Options(), data);
        IDataView empty = generator.Transform(Data(mlContext, ["fine", ""]));
        var error = Assert.ThrowsExactly<InvalidOperationException>(() => empty.GetColumn<string>("GeneratedText").ToArray());
        StringAssert.Contains(error.Message, "empty or missing text");
    }
}
