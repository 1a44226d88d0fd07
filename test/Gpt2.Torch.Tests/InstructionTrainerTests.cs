using Gpt2.Torch.Generation;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>Instruction fine-tuning of a tiny model on a handful of rows.</summary>
/// <remarks>
/// The rows' GPT-2 token ids are renumbered densely (end-of-text last), so the tiny model's vocabulary holds only
/// them: a 50257-row output layer would make each step about a hundred times slower.
/// </remarks>
[TestClass]
public sealed class InstructionTrainerTests
{
    internal static readonly InstructionExample[] Rows =
    [
        new("Name a primary color.", "", "Red."),
        new("Translate to French.", "cat", "chat"),
        new("What is the capital of Italy?", "", "Rome is the capital of Italy."),
        new("Add the numbers.", "2 and 3", "5"),
    ];

    private static readonly int[] Vocabulary = [.. Rows.SelectMany(row => Gpt2Tokenizer.Default.Encode(InstructionPromptFormat.Alpaca.FormatExample(row)))
        .Distinct().Order().Append(Gpt2Tokenizer.EndOfTextTokenId)];
    internal static readonly Gpt2Config Tiny = new() { VocabSize = Vocabulary.Length, EmbeddingSize = 32, LayerCount = 2, HeadCount = 2, ContextLength = 96, Dropout = 0 };
    internal static int EndOfText => Vocabulary.Length - 1;

    private static int[] Renumber(int[] ids) => [.. ids.Select(id => Array.IndexOf(Vocabulary, id))];

    internal static InstructionSequence[] Sequences => [.. Rows.Select(row => InstructionSequence.Create(row, InstructionPromptFormat.Alpaca, Gpt2Tokenizer.Default))
        .Select(sequence => sequence with { TokenIds = Renumber(sequence.TokenIds) })];

    [TestMethod]
    public void TrainingOnAFewRowsDrivesTheirLossNearZeroAndReproducesTheResponses()
    {
        random.manual_seed(1);
        using var model = new Gpt2Model(Tiny, CPU);
        var steps = new List<TrainingStep>();
        var evaluations = new List<TrainingEvaluation>();
        using var trainer = new InstructionTrainer(model, new InstructionTuningOptions { BatchSize = 4, Epochs = 150, LearningRate = 1e-2, EvaluationInterval = 50, EndOfTextId = EndOfText });
        trainer.StepCompleted += steps.Add;
        trainer.Evaluated += evaluations.Add;
        double before = trainer.Evaluate(Sequences);

        TrainingEvaluation final = trainer.Train(Sequences, Sequences);

        double after = trainer.Evaluate(Sequences);
        Assert.IsGreaterThan(3.0, before, $"an untrained model is near ln({Vocabulary.Length})");
        Assert.IsLessThan(0.1, after);
        // Steps numbered from 0: the 50th, 100th and 150th steps evaluate.
        CollectionAssert.AreEqual(new long[] { 49, 99, 149 }, evaluations.Select(e => e.Step).ToArray());
        Assert.AreSame(final, evaluations[^1]);
        Assert.AreEqual(after, final.ValidationLoss, 1e-4, "the last evaluation measures the final model");
        Assert.AreEqual(150, steps[^1].TotalSteps);
        Assert.HasCount(150, steps);

        var generator = new Gpt2Generator(model);
        var options = new GenerationOptions { MaxNewTokens = 20, StopSequences = [[EndOfText]] };
        int[][] prompts = [.. Rows.Select(row => Renumber(Gpt2Tokenizer.Default.Encode(InstructionPromptFormat.Alpaca.FormatPrompt(row.Instruction, row.Input))))];
        int[][] outputs = generator.GenerateBatch(prompts, options);
        for (int row = 0; row < Rows.Length; row++)
        {
            Assert.AreEqual(EndOfText, outputs[row][^1], $"row {row} ends with end-of-text");
            string text = Gpt2Tokenizer.Default.Decode(outputs[row].Select(id => Vocabulary[id]));
            Assert.AreEqual(Rows[row].Output, InstructionPromptFormat.Alpaca.ExtractResponse(text), $"row {row}");
        }
    }

    [TestMethod]
    public void CancellationStopsBeforeTheNextStep()
    {
        using var model = new Gpt2Model(Tiny, CPU);
        using var cancellation = new CancellationTokenSource();
        int steps = 0;
        using var trainer = new InstructionTrainer(model, new InstructionTuningOptions { BatchSize = 2, Epochs = 5, EndOfTextId = EndOfText });
        trainer.StepCompleted += _ =>
        {
            steps++;
            cancellation.Cancel();
        };

        Assert.ThrowsExactly<OperationCanceledException>(() => trainer.Train(Sequences, cancellationToken: cancellation.Token));
        Assert.AreEqual(1, steps);
    }
}
