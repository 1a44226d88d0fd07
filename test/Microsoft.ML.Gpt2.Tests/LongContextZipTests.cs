using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using Microsoft.ML.Gpt2.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// A model whose context is longer than GPT-2's 1024 tokens saves a zip that reads as many tokens as the model in memory:
/// with texts past 1024 tokens, zip and memory give the same scores and the same text.
/// </summary>
[TestClass]
public sealed class LongContextZipTests
{
    private static readonly Gpt2Config LongConfig = new() { ContextLength = 2048, EmbeddingSize = 16, HeadCount = 2, LayerCount = 1, Dropout = 0 };

    private sealed class Row
    {
        public string Text { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private sealed class Scored
    {
        public float[] Score { get; set; } = [];
    }

    // A text whose class shows only in its last words, after more than 1024 tokens: a zip that read only 1024 tokens
    // would see two identical texts.
    private static string LongText(int words, string ending) =>
        string.Join(" ", Enumerable.Range(0, words).Select(i => i % 7 == 0 ? "tea" : "leaf")) + " " + ending;

    [TestMethod]
    public void AClassifierWithA2048TokenContextScoresLongTextsInTheZipAsInMemory()
    {
        var mlContext = new MLContext(seed: 1);
        Row[] rows = [.. Enumerable.Range(0, 8).Select(i => i % 2 == 0
            ? new Row { Text = LongText(1400 + 30 * i, "win cash now"), Label = "spam" }
            : new Row { Text = LongText(1400 + 30 * i, "see you soon"), Label = "ham" })];
        Assert.IsTrue(rows.All(r => Gpt2Tokenizer.Default.Encode(r.Text).Length > 1400), "every text is longer than GPT-2's context");
        IDataView data = mlContext.Data.LoadFromEnumerable(rows);
        var options = new Gpt2TextClassifier.Options
        {
            BaseModel = LanguageModelSource.Random(LongConfig),
            Sentence1ColumnName = nameof(Row.Text),
            TrainableLayers = TrainableLayers.All,
            MaxEpochs = 1,
            BatchSize = 4,
            Device = CPU,
        };
        var model = mlContext.Transforms.Conversion.MapValueToKey("Label").Append(mlContext.MulticlassClassification.Trainers.Gpt2(options)).Fit(data);
        Assert.IsGreaterThan(1024, model.LastTransformer.MaxLength);

        (MLContext loadingContext, ITransformer loaded, _) = Gpt2TextGeneratorTests.SaveAndLoad(mlContext, model, data.Schema);

        Scored[] expected = [.. mlContext.Data.CreateEnumerable<Scored>(model.Transform(data), reuseRowObject: false)];
        Scored[] actual = [.. loadingContext.Data.CreateEnumerable<Scored>(loaded.Transform(data), reuseRowObject: false)];
        for (int i = 0; i < rows.Length; i++)
            for (int c = 0; c < 2; c++)
                Assert.AreEqual(expected[i].Score[c], actual[i].Score[c], 1e-4, $"row {i}, class {c}");
        Assert.AreNotEqual(expected[0].Score[0], expected[1].Score[0], 1e-6, "the two classes' texts differ only after 1024 tokens");
    }

    [TestMethod]
    public void AGeneratorWithA2048TokenContextContinuesLongPromptsInTheZipAsInMemory()
    {
        var mlContext = new MLContext(seed: 1);
        Gpt2TextGeneratorTests.PromptRow[] prompts = [new() { Id = 0, Prompt = LongText(1500, "and then") }, new() { Id = 1, Prompt = LongText(1700, "so the") }];
        Assert.IsTrue(prompts.All(p => Gpt2Tokenizer.Default.Encode(p.Prompt).Length > 1500));
        IDataView data = mlContext.Data.LoadFromEnumerable(prompts);
        var options = new Gpt2TextGenerator.Options { BaseModel = LanguageModelSource.Random(LongConfig), Generation = { Sampling = new() { MaxNewTokens = 6 } }, Device = CPU };
        manual_seed(5);
        using Gpt2TextGenerationTransformer generator = new Gpt2TextGenerator(mlContext, options).Fit(data);
        string[] expected = [.. generator.Transform(data).GetColumn<string>("GeneratedText")];

        (MLContext loadingContext, ITransformer loaded, _) = Gpt2TextGeneratorTests.SaveAndLoad(mlContext, generator, data.Schema);

        CollectionAssert.AreEqual(expected, loaded.Transform(data).GetColumn<string>("GeneratedText").ToArray());
    }
}
