using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Microsoft.ML.Gpt2.Instructions;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>The instruction tuner's Fit fails loudly, returning no model, when training diverges or its MLContext was cancelled.</summary>
[TestClass]
public sealed class Gpt2InstructionTunerFailureTests
{
    public sealed class Row
    {
        public string Instruction { get; set; } = "";
        public string Input { get; set; } = "";
        public string Output { get; set; } = "";
    }

    private static readonly Row[] Rows =
    [
        new() { Instruction = "Name a primary color.", Output = "Red." },
        new() { Instruction = "Translate to French.", Input = "cat", Output = "chat" },
        new() { Instruction = "What is the capital of Italy?", Output = "Rome is the capital of Italy." },
        new() { Instruction = "Add the numbers.", Input = "2 and 3", Output = "5" },
    ];

    private static Gpt2InstructionTuner.Options TinyOptions() => new()
    {
        BaseModel = LanguageModelSource.Random(new Gpt2Config { ContextLength = 96, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }),
        BatchSize = 2,
        MaxEpochs = 5,
        Generation = { Sampling = new() { MaxNewTokens = 8 } },
        Device = CPU,
    };

    [TestMethod]
    public void ADivergingFitThrowsNamingTheStepTheLossAndTheLearningRate()
    {
        var context = new MLContext(seed: 1);
        Gpt2InstructionTuner.Options options = TinyOptions();
        options.LearningRate = 1e30;
        var progress = new List<TrainingStep>();
        options.StepCompleted = progress.Add;

        var error = Assert.ThrowsExactly<TrainingDivergedException>(() => new Gpt2InstructionTuner(context, options).Fit(context.Data.LoadFromEnumerable(Rows)));

        Assert.AreEqual(progress.Count, error.Step, "steps are numbered from 0; the ones before the blown-up step were reported");
        StringAssert.Contains(error.Message, $"step {error.Step}");
        StringAssert.Contains(error.Message, "learning rate 1E+30");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AFitInACancelledMLContextSaysANewContextIsNeeded(bool throughTheCatalog)
    {
        var context = new MLContext(seed: 1);
        Gpt2InstructionTuner estimator = throughTheCatalog
            ? context.Transforms.Text.Gpt2InstructionTuner(TinyOptions())
            : new Gpt2InstructionTuner(context, TinyOptions());
        // MLContext.CancelExecution is internal to ML.NET (its AutoML calls it); reached the way ML.NET does.
        typeof(MLContext).GetMethod("CancelExecution", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.Invoke(context, null);

        var error = Assert.ThrowsExactly<OperationCanceledException>(() => estimator.Fit(context.Data.LoadFromEnumerable(Rows)));

        StringAssert.Contains(error.Message, "MLContext was cancelled");
        StringAssert.Contains(error.Message, "new MLContext");
    }
}
