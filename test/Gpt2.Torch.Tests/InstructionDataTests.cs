using Gpt2.Torch.Instructions;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Tests;

/// <summary>The book's prompt formats, collation (chapter 7) and response extraction.</summary>
[TestClass]
public sealed class InstructionDataTests
{
    private static readonly InstructionSequence[] BookBatch = [new([0, 1, 2, 3, 4], 0), new([5, 6], 0), new([7, 8, 9], 0)];

    private static (long[,] Inputs, long[,] Targets) Collate(InstructionCollator collator, InstructionSequence[] batch)
    {
        (var inputs, var targets) = collator.Collate(batch);
        using (inputs)
        using (targets)
        {
            long rows = inputs.shape[0], length = inputs.shape[1];
            long[] i = inputs.data<long>().ToArray(), t = targets.data<long>().ToArray();
            var a = new long[rows, length];
            var b = new long[rows, length];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < length; c++)
                    (a[r, c], b[r, c]) = (i[r * length + c], t[r * length + c]);
            return (a, b);
        }
    }

    [TestMethod]
    public void CollationGivesTheBooksInputsAndTargets()
    {
        (long[,] inputs, long[,] targets) = Collate(new InstructionCollator(), BookBatch);

        CollectionAssert.AreEqual(new long[,] { { 0, 1, 2, 3, 4 }, { 5, 6, 50256, 50256, 50256 }, { 7, 8, 9, 50256, 50256 } }, inputs);
        CollectionAssert.AreEqual(new long[,] { { 1, 2, 3, 4, 50256 }, { 6, 50256, -100, -100, -100 }, { 8, 9, 50256, -100, -100 } }, targets);
    }

    [TestMethod]
    public void CollationCutsRowsToTheAllowedMaximumLength()
    {
        (long[,] inputs, long[,] targets) = Collate(new InstructionCollator(allowedMaxLength: 3), BookBatch);

        CollectionAssert.AreEqual(new long[,] { { 0, 1, 2 }, { 5, 6, 50256 }, { 7, 8, 9 } }, inputs);
        CollectionAssert.AreEqual(new long[,] { { 1, 2, 3 }, { 6, 50256, -100 }, { 8, 9, 50256 } }, targets);
    }

    [TestMethod]
    public void PromptMaskingIgnoresTargetsThatArePromptTokens()
    {
        // Row 0's prompt is [0, 1, 2]: the targets 1 and 2 are prompt tokens, 3 is the first response token.
        InstructionSequence[] batch = [new([0, 1, 2, 3, 4], 3), new([5, 6], 1), new([7, 8, 9], 3)];

        (long[,] inputs, long[,] targets) = Collate(new InstructionCollator(maskPrompt: true), batch);

        CollectionAssert.AreEqual(new long[,] { { 0, 1, 2, 3, 4 }, { 5, 6, 50256, 50256, 50256 }, { 7, 8, 9, 50256, 50256 } }, inputs);
        CollectionAssert.AreEqual(new long[,] { { -100, -100, 3, 4, 50256 }, { 6, 50256, -100, -100, -100 }, { -100, -100, 50256, -100, -100 } }, targets);
    }

    [TestMethod]
    public void CollationRejectsAnEmptyRow() =>
        Assert.ThrowsExactly<ArgumentException>(() => new InstructionCollator().Collate([new([1, 2], 0), new([], 0)]));

    [TestMethod]
    public void AlpacaFormatsTheBooksExampleEntries()
    {
        IReadOnlyList<InstructionExample> data = InstructionExample.LoadJson(TestPaths.Data("instruction-data.json"));

        Assert.HasCount(1100, data);
        Assert.AreEqual(
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n" +
            "### Instruction:\nIdentify the correct spelling of the following word.\n\n### Input:\nOcassion\n\n" +
            "### Response:\nThe correct spelling is 'Occasion.'",
            InstructionPromptFormat.Alpaca.FormatExample(data[50]));
        Assert.AreEqual(
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n" +
            "### Instruction:\nWhat is an antonym of 'complicated'?\n\n### Response:\nAn antonym of 'complicated' is 'simple'.",
            InstructionPromptFormat.Alpaca.FormatExample(data[999]));
    }

    [TestMethod]
    public void Phi3AndCustomFormats()
    {
        var example = new InstructionExample("Identify the correct spelling of the following word.", "Ocassion", "The correct spelling is 'Occasion.'");
        var custom = InstructionPromptFormat.Custom("Q: {instruction} {braces}{input}\nA:", " [{input}]", "A:");

        Assert.AreEqual("<|user|>\nIdentify the correct spelling of the following word.\nOcassion\n\n<|assistant|>\nThe correct spelling is 'Occasion.'",
            InstructionPromptFormat.Phi3.FormatExample(example));
        Assert.AreEqual("Q: say {input} {braces} [x]\nA:", custom.FormatPrompt("say {input}", "x"));
        Assert.AreEqual("Q: hi {braces}\nA:", custom.FormatPrompt("hi", ""));
        Assert.ThrowsExactly<ArgumentException>(() => InstructionPromptFormat.Custom("{instruction}{input}", "{input}", "A:"));
    }

    [TestMethod]
    public void ExtractionTakesTheTrimmedTextAfterTheResponseMarker()
    {
        string prompt = InstructionPromptFormat.Alpaca.FormatPrompt("Name a color.", "");

        Assert.AreEqual("Blue.", InstructionPromptFormat.Alpaca.ExtractResponse(prompt + "  Blue. \n<|endoftext|>### Instruction:"));
        Assert.AreEqual("Red", InstructionPromptFormat.Alpaca.ExtractResponse(" Red\n"));
        Assert.AreEqual("Green", InstructionPromptFormat.Phi3.ExtractResponse("<|user|>\nName a color.\n\n<|assistant|>\nGreen<|endoftext|>"));
    }

    [TestMethod]
    public void SequencesCountPromptTokens()
    {
        var example = new InstructionExample("Name a color.", "", "Blue.");

        InstructionSequence sequence = InstructionSequence.Create(example, InstructionPromptFormat.Alpaca, Gpt2Tokenizer.Default);

        string prompt = InstructionPromptFormat.Alpaca.FormatPrompt(example.Instruction, example.Input);
        Assert.AreEqual(prompt, Gpt2Tokenizer.Default.Decode(sequence.TokenIds[..sequence.PromptLength]));
        Assert.AreEqual("Blue.", Gpt2Tokenizer.Default.Decode(sequence.TokenIds[sequence.PromptLength..]));
    }
}
