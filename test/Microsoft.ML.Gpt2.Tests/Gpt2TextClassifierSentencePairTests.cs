using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2.Classification;
using SharpToken;
using static TorchSharp.torch;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// Sentence pairs, as ML.NET's TextClassification trainer takes them (<c>sentence2ColumnName</c>): the label is carried by
/// the short second text alone, behind a long first text and a length limit that cuts the first text, so a classifier
/// that drops or cuts away the second text stays at chance.
/// </summary>
[TestClass]
public sealed class Gpt2TextClassifierSentencePairTests
{
    private sealed class Pair
    {
        public string Premise { get; set; } = "";
        public string Hypothesis { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private sealed class Prediction
    {
        public string PredictedText { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    private static readonly GptEncoding Reference = GptEncoding.GetEncoding("r50k_base");

    private static List<Pair> Pairs(IEnumerable<SmsSpamData.Message> messages, int seed)
    {
        var random = new Random(seed);
        return [.. messages.Select(m => random.Next(2) == 0
            ? new Pair { Premise = m.Text, Hypothesis = "yes, please", Label = "agree" }
            : new Pair { Premise = m.Text, Hypothesis = "no, thanks", Label = "refuse" })];
    }

    [TestMethod]
    public void APairIsTheFirstTextThenEndOfTextThenTheSecondWithTheLongerTextCutFirst()
    {
        int[] Encode(string text) => [.. Reference.Encode(text)];
        int eot = Gpt2Tokenizer.EndOfTextTokenId;

        CollectionAssert.AreEqual(Encode("Is it raining?").Append(eot).Concat(Encode("Take an umbrella.")).ToArray(),
            Gpt2TextEncoding.EncodePair(Gpt2Tokenizer.Default, "Is it raining?", "Take an umbrella.", "A", "B", 1024));
        // "a b c d e f" is 6 tokens, "x y" 2: the longer loses tokens until both fit 6 with the separator.
        CollectionAssert.AreEqual(Encode("a b c").Append(eot).Concat(Encode("x y")).ToArray(),
            Gpt2TextEncoding.EncodePair(Gpt2Tokenizer.Default, "a b c d e f", "x y", "A", "B", 6));
        CollectionAssert.AreEqual(Encode("a b").Append(eot).Concat(Encode("u v")).ToArray(),
            Gpt2TextEncoding.EncodePair(Gpt2Tokenizer.Default, "a b c d", "u v w x", "A", "B", 5));
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => Gpt2TextEncoding.EncodePair(Gpt2Tokenizer.Default, "a", "", "A", "B", 8)).Message, "'B'");
    }

    [TestMethod]
    public void TheSecondTextOfAPairIsLearnedAndTheZipScoresAsTheModelInMemory()
    {
        var mlContext = new MLContext(seed: 1);
        (List<SmsSpamData.Message> messages, List<SmsSpamData.Message> heldOut) = SmsSpamData.BalancedSplit(perClass: 80, trainFraction: 0.75);
        IDataView train = mlContext.Data.LoadFromEnumerable(Pairs(messages, seed: 3));
        IDataView test = mlContext.Data.LoadFromEnumerable(Pairs(heldOut, seed: 4));
        var options = new Gpt2TextClassifier.Options
        {
            BaseModel = LanguageModelSource.Random(new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 1, Dropout = 0 }),
            Sentence1ColumnName = nameof(Pair.Premise),
            Sentence2ColumnName = nameof(Pair.Hypothesis),
            TrainableLayers = TrainableLayers.All,
            LearningRate = 3e-3,
            MaxEpochs = 3,
            MaxLength = 12,   // shorter than most premises: only longest-first truncation keeps the hypothesis
            Device = CPU,
        };
        ITransformer model = mlContext.Transforms.Conversion.MapValueToKey("Label")
            .Append(mlContext.MulticlassClassification.Trainers.Gpt2(options))
            .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"))
            .Fit(train);

        MulticlassClassificationMetrics metrics = mlContext.MulticlassClassification.Evaluate(model.Transform(test));
        Assert.IsGreaterThan(0.95, metrics.MacroAccuracy, "the label is in the second text only; chance is 50%");

        (MLContext loadingContext, ITransformer loaded, DataViewSchema inputSchema) = Gpt2TextGeneratorTests.SaveAndLoad(mlContext, model, train.Schema);
        Assert.IsNotNull(inputSchema.GetColumnOrNull(nameof(Pair.Hypothesis)));
        Prediction[] expected = [.. mlContext.Data.CreateEnumerable<Prediction>(model.Transform(test), reuseRowObject: false)];
        Prediction[] actual = [.. loadingContext.Data.CreateEnumerable<Prediction>(loaded.Transform(test), reuseRowObject: false)];
        Assert.AreEqual(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i].PredictedText, actual[i].PredictedText, $"row {i}");
            for (int c = 0; c < expected[i].Score.Length; c++)
                Assert.AreEqual(expected[i].Score[c], actual[i].Score[c], 1e-4, $"row {i}, class {c}");
        }
        var engine = loadingContext.Model.CreatePredictionEngine<Pair, Prediction>(loaded);
        Assert.AreEqual("refuse", engine.Predict(new Pair { Premise = "Free entry to win a prize, text WIN now to claim it", Hypothesis = "no, thanks" }).PredictedText);
    }
}
