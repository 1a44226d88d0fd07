using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Instructions;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tests;
using Gpt2.Torch.Training;
using Microsoft.ML.Gpt2.Instructions;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// <see cref="Gpt2InstructionTuner"/> on a Llama-family model folder with its own tokenizer (<see cref="TinyFamilyModel"/>):
/// the validation loss falls, and the model learns to end each answer with the tokenizer's end-of-text token
/// (<c>&lt;|im_end|&gt;</c>, which generation stops at), not GPT-2's 50256.
/// </summary>
[TestClass]
public sealed class FamilyInstructionTunerTests
{
    private static readonly Gpt2InstructionTunerTests.Row[] Rows =
    [
        new() { Instruction = "Name a color.", Output = "Red." },
        new() { Instruction = "French for", Input = "cat", Output = "chat" },
        new() { Instruction = "Capital of Italy?", Output = "Rome." },
        new() { Instruction = "Add.", Input = "2 and 3", Output = "5" },
    ];

    [TestMethod]
    public void ValidationLossFallsAndTheAnswersEndWithTheTokenizersEndOfText()
    {
        string folder = TinyFamilyModel.Write(Path.Combine(Path.GetTempPath(), "gpt2-family-tune-" + Guid.NewGuid().ToString("N")));
        try
        {
            var context = new MLContext(seed: 1);
            IDataView data = context.Data.LoadFromEnumerable(Rows);
            var evaluations = new List<TrainingEvaluation>();
            var options = new Gpt2InstructionTuner.Options
            {
                BaseModel = LanguageModelSource.Pretrained(folder),
                PromptFormat = InstructionPromptFormat.Phi3,
                BatchSize = 4,
                MaxEpochs = 60,
                LearningRate = 1e-2,
                EvaluationInterval = 20,
                ValidationSet = data,
                Evaluated = evaluations.Add,
                Generation = { Sampling = new() { MaxNewTokens = 12 } },
                Device = CPU,
            };
            using Gpt2InstructionTransformer model = new Gpt2InstructionTuner(context, options).Fit(data);
            Assert.IsInstanceOfType<LlamaModel>(model.Model);

            double[] losses = [.. evaluations.Select(e => e.ValidationLoss)];
            Assert.AreEqual(3, losses.Length);
            Assert.IsTrue(losses[0] > losses[1] && losses[1] > losses[2] && losses[2] < 0.2, $"validation losses {string.Join(", ", losses)}");

            Gpt2TextGenerationService service = model.GenerationService;
            Assert.AreEqual(TinyFamilyModel.TurnEndId, service.Tokenizer.EndOfTextId);
            foreach (Gpt2InstructionTunerTests.Row row in Rows)
            {
                string prompt = InstructionPromptFormat.Phi3.FormatPrompt(row.Instruction, row.Input);
                TextGenerationResult result = service.Generate(prompt, new GenerationOptions { MaxNewTokens = 12, LogProbabilities = 0 });
                Assert.AreEqual(row.Output, result.Text);
                // Stopped by <|im_end|>: the model learned it as the rows' last token.
                Assert.AreEqual(TextGenerationFinishReason.EndOfText, result.FinishReason, row.Output);
                Assert.AreEqual(TinyFamilyModel.TurnEndId, result.LogProbabilities![^1].TokenId);
            }

            var answers = context.Data.CreateEnumerable<Gpt2InstructionTunerTests.Answer>(model.Transform(data), reuseRowObject: false);
            CollectionAssert.AreEqual(Rows.Select(r => r.Output).ToArray(), answers.Select(a => a.Response).ToArray());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
