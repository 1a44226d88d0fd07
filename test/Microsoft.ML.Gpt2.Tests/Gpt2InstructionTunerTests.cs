using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Instructions;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// Gpt2InstructionTuner on four Alpaca rows with a tiny GPT-2, trained once: the loss goes near zero, the fitted
/// transformer answers with the trained responses, and its model zip (the prompt format as an ML.NET expression, ONNX
/// Runtime's GreedySearch) answers the same.
/// </summary>
[TestClass]
public sealed class Gpt2InstructionTunerTests
{
    public sealed class Row
    {
        public string Instruction { get; set; } = "";
        public string Input { get; set; } = "";
        public string Output { get; set; } = "";
    }

    public sealed class Answer
    {
        public string Instruction { get; set; } = "";
        public string Response { get; set; } = "";
    }

    private static readonly Row[] Rows =
    [
        new() { Instruction = "Name a primary color.", Output = "Red." },
        new() { Instruction = "Translate to French.", Input = "cat", Output = "chat" },
        new() { Instruction = "What is the capital of Italy?", Output = "Rome is the capital of Italy." },
        new() { Instruction = "Add the numbers.", Input = "2 and 3", Output = "5" },
    ];

    private static MLContext _context = null!;
    private static IDataView _data = null!;
    private static Gpt2InstructionTransformer _model = null!;
    private static List<TrainingStep> _steps = null!;
    private static List<TrainingEvaluation> _evaluations = null!;

    private static readonly Gpt2Config TinyConfig = new() { ContextLength = 96, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };

    private static Gpt2InstructionTuner.Options TinyOptions() => new()
    {
        BaseModel = LanguageModelSource.Random(TinyConfig),
        BatchSize = 4,
        MaxEpochs = 80,
        LearningRate = 1e-2,
        EvaluationInterval = 40,
        Generation = { Sampling = new() { MaxNewTokens = 16 } },
        Device = CPU,
    };

    [ClassInitialize]
    public static void TrainOnce(TestContext _)
    {
        _context = new MLContext(seed: 1);
        _data = _context.Data.LoadFromEnumerable(Rows);
        (_steps, _evaluations) = ([], []);
        Gpt2InstructionTuner.Options options = TinyOptions();
        options.ValidationSet = _data;
        options.StepCompleted = _steps.Add;
        options.Evaluated = _evaluations.Add;
        _model = new Gpt2InstructionTuner(_context, options).Fit(_data);
    }

    [ClassCleanup]
    public static void Release() => _model.Dispose();

    private static string[] Responses(MLContext mlContext, ITransformer model) =>
        [.. mlContext.Data.CreateEnumerable<Answer>(model.Transform(mlContext.Data.LoadFromEnumerable(Rows)), reuseRowObject: false).Select(a => a.Response)];

    [TestMethod]
    public void TrainingDrivesTheLossNearZeroAndTheModelAnswersWithTheTrainedResponses()
    {
        // Steps numbered from 0: the 40th and 80th steps evaluate.
        CollectionAssert.AreEqual(new long[] { 39, 79 }, _evaluations.Select(e => e.Step).ToArray());
        Assert.IsGreaterThan(5.0, _steps[0].Loss, "an untrained model is near ln(50257) = 10.8");
        Assert.IsLessThan(0.1, _evaluations[^1].ValidationLoss);

        CollectionAssert.AreEqual(Rows.Select(r => r.Output).ToArray(), Responses(_context, _model));
    }

    [TestMethod]
    public void ModelZipAnswersTheSameInOnnxRuntime()
    {
        (MLContext loadingContext, ITransformer loaded, _) = Gpt2TextGeneratorTests.SaveAndLoad(_context, _model, _data.Schema);

        CollectionAssert.AreEqual(Rows.Select(r => r.Output).ToArray(), Responses(loadingContext, loaded));
        var engine = loadingContext.Model.CreatePredictionEngine<Row, Answer>(loaded);
        Assert.AreEqual("chat", engine.Predict(new Row { Instruction = "Translate to French.", Input = "cat" }).Response);
    }

    [TestMethod]
    public void DecodingThroughOnnxRuntimeAnswersWithTheTrainedWeights()
    {
        var mlContext = new MLContext(seed: 1);
        Gpt2InstructionTuner.Options options = TinyOptions();
        options.Generation.Engine = DecodingEngine.Auto;   // a float32 model on the CPU, fitted with full fine-tuning: ONNX Runtime

        using Gpt2InstructionTransformer model = new Gpt2InstructionTuner(mlContext, options).Fit(_data);

        // A session made from the weights before training would answer with an untrained model's tokens.
        CollectionAssert.AreEqual(Rows.Select(r => r.Output).ToArray(), Responses(mlContext, model));
        Assert.IsTrue(model.GenerationService.UsesOnnxRuntime);
    }

    [TestMethod]
    public void PromptFormatsAsMLNetExpressionsFormatAsTheFormatsDo()
    {
        InstructionPromptFormat[] formats =
        [
            InstructionPromptFormat.Alpaca,
            InstructionPromptFormat.Phi3,
            InstructionPromptFormat.Custom("Q \"{instruction}\" \\ {instruction}{input}\n\t→ Answer:", "\n[ctx: {input} ü]", "Answer:"),
        ];
        Row[] rows = [.. Rows, new() { Instruction = "Quote \"this\" \\ {input} 😀", Input = "{instruction} é" }];
        var mlContext = new MLContext();
        IDataView data = mlContext.Data.LoadFromEnumerable(rows);
        foreach (InstructionPromptFormat format in formats)
        {
            IDataView prompts = mlContext.Transforms.Expression("Prompt", PromptFormatExpression.Create(format), "Instruction", "Input").Fit(data).Transform(data);
            string[] expected = [.. rows.Select(r => format.FormatPrompt(r.Instruction, r.Input))];
            CollectionAssert.AreEqual(expected, prompts.GetColumn<string>("Prompt").ToArray(), format.Name);
        }
    }

    [TestMethod]
    public void LoRATrainsOnlyAdaptersAndFoldsThemIntoTheWeights()
    {
        Gpt2InstructionTuner.Options options = TinyOptions();
        options.MaxEpochs = 3;
        options.TrainableLayers = TrainableLayers.LoRA;
        options.LoRARank = 4;
        random.manual_seed(options.Seed);
        using var initial = new Gpt2Model(TinyConfig, CPU);

        using Gpt2InstructionTransformer model = new Gpt2InstructionTuner(new MLContext(), options).Fit(_data);

        Assert.IsNull(model.Model.LoRA, "the adapters are merged after fitting");
        var before = initial.state_dict();
        var after = model.Model.state_dict();
        CollectionAssert.AreEqual(before.Keys.ToArray(), after.Keys.ToArray());
        Assert.IsTrue(before["wte.weight"].equal(after["wte.weight"]).all().item<bool>(), "embeddings are frozen");
        Assert.IsTrue(before["h.0.ln_1.weight"].equal(after["h.0.ln_1.weight"]).all().item<bool>(), "LayerNorms are frozen");
        Tensor update = after["h.1.attn.c_attn.weight"] - before["h.1.attn.c_attn.weight"];
        Assert.IsGreaterThan(0f, update.abs().max().item<float>(), "the adapted layer moved");
        Assert.IsLessThanOrEqualTo(4L, linalg.matrix_rank(update).item<long>(), "by a rank-4 update");
        options.TrainableLayers = TrainableLayers.LastBlock;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new Gpt2InstructionTuner(new MLContext(), options)).Message, "LoRA");
    }

    [TestMethod]
    public void BadInputIsRefusedNamingTheColumn()
    {
        var mlContext = new MLContext();
        var noOutput = mlContext.Data.LoadFromEnumerable(Rows.Select(r => new { r.Instruction, r.Input }).ToArray());
        var error = Assert.ThrowsExactly<ArgumentException>(() => new Gpt2InstructionTuner(mlContext, TinyOptions()).Fit(noOutput));
        StringAssert.Contains(error.Message, "'Output'");

        var emptyInstruction = mlContext.Data.LoadFromEnumerable(new[] { new Row { Instruction = "", Output = "x" } });
        error = Assert.ThrowsExactly<ArgumentException>(() => new Gpt2InstructionTuner(mlContext, TinyOptions()).Fit(emptyInstruction));
        StringAssert.Contains(error.Message, "empty instruction");

        var numbers = mlContext.Data.LoadFromEnumerable(new[] { new { Instruction = 1f, Input = "", Output = "x" } });
        Assert.ThrowsExactly<ArgumentException>(() => _model.GetOutputSchema(numbers.Schema));

        var noPromptRoom = TinyOptions();
        noPromptRoom.Generation.Sampling = new() { MaxNewTokens = 96 };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Gpt2InstructionTuner(mlContext, noPromptRoom).Fit(_data)).Message,
            "context length");
    }
}
