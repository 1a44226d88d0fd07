using System.Text.Json;
using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Microsoft.ML;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

namespace Gpt2Server.Tests;

/// <summary><c>POST /v1/classify</c> over a tiny GPT-2 classifier zip fitted and saved here, against ML.NET's own prediction engine.</summary>
[TestClass]
public sealed class ClassifierTests
{
    private static string _zip = null!;
    private static ServerHost _server = null!;

    public sealed class Message
    {
        public string Label { get; set; } = "";
        public string Text { get; set; } = "";
    }

    public sealed class Prediction
    {
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    private static readonly string[] Texts =
    [
        "WINNER! Claim your free prize now, call 09061701461", "Are we still meeting for lunch today?",
        "URGENT: your mobile number has won 2000 cash, text WIN", "I'll be home late, save me some dinner",
        "Free entry in a weekly competition, text FA to 87121", "Can you pick up milk on the way back?",
    ];

    [ClassInitialize]
    public static async Task FitSaveAndServe(TestContext _)
    {
        var mlContext = new MLContext(seed: 1);
        Message[] rows = [.. Enumerable.Range(0, 4).SelectMany(_ => Texts.Select((t, i) => new Message { Text = t, Label = i % 2 == 0 ? "spam" : "ham" }))];
        IDataView data = mlContext.Data.LoadFromEnumerable(rows);
        var options = new Gpt2TextClassifier.Options
        {
            BaseModel = LanguageModelSource.Random(new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }),
            Sentence1ColumnName = "Text",
            TrainableLayers = TrainableLayers.All,
            LearningRate = 2e-3,
            MaxEpochs = 2,
            BatchSize = 4,
            MaxLength = 32,
            Device = CPU,
        };
        // As the README's pipeline: labels to keys, the GPT-2 trainer, keys back to label text.
        ITransformer model = mlContext.Transforms.Conversion.MapValueToKey("Label")
            .Append(mlContext.MulticlassClassification.Trainers.Gpt2(options))
            .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"))
            .Fit(data);
        _zip = Path.Combine(Path.GetTempPath(), $"gpt2-server-classifier-{Guid.NewGuid():N}.zip");
        mlContext.Model.Save(model, data.Schema, _zip);
        _server = await ServerHost.StartAsync(null, "--classifier", _zip);
    }

    [ClassCleanup]
    public static async Task StopServer()
    {
        await _server.DisposeAsync();
        File.Delete(_zip);
    }

    [TestMethod]
    public async Task ClassifyAnswersEachTextWithTheZipsLabelAndProbabilities()
    {
        var mlContext = new MLContext();
        ITransformer loaded = mlContext.Model.Load(_zip, out _);
        using var engine = mlContext.Model.CreatePredictionEngine<Message, Prediction>(loaded);

        (int status, JsonElement json, _) = await _server.PostAsync("v1/classify", JsonSerializer.Serialize(new { texts = Texts }));

        Assert.AreEqual(200, status, json.ToString());
        JsonElement[] data = [.. json.GetProperty("data").EnumerateArray()];
        Assert.AreEqual(Texts.Length, data.Length);
        for (int i = 0; i < Texts.Length; i++)
        {
            Prediction expected = engine.Predict(new Message { Text = Texts[i] });
            Assert.AreEqual(i, data[i].GetProperty("index").GetInt32());
            Assert.AreEqual(expected.PredictedLabel, data[i].GetProperty("label").GetString(), Texts[i]);
            Dictionary<string, float> probabilities = data[i].GetProperty("probabilities").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetSingle());
            CollectionAssert.AreEquivalent(new[] { "spam", "ham" }, probabilities.Keys.ToArray());
            Assert.AreEqual(expected.Score.Max(), probabilities[expected.PredictedLabel], 1e-6);
            CollectionAssert.AreEqual(expected.Score.Order().ToArray(), probabilities.Values.Order().ToArray());
        }
    }

    [TestMethod]
    public async Task ConcurrentClassifyRequestsGetTheSameAnswersAsOneAtATime()
    {
        string body = JsonSerializer.Serialize(new { texts = Texts });
        string solo = (await _server.PostAsync("v1/classify", body)).Json.GetProperty("data").ToString();
        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => _server.PostAsync("v1/classify", body))));
        Assert.IsTrue(answers.All(a => a.Status == 200));
        Assert.IsTrue(answers.All(a => a.Json.GetProperty("data").ToString() == solo));
    }

    [TestMethod]
    [DataRow("""{"texts":[]}""", DisplayName = "no texts")]
    [DataRow("""{"texts":"one"}""", DisplayName = "not an array")]
    [DataRow("""{"texts":[1]}""", DisplayName = "not strings")]
    [DataRow("""{}""", DisplayName = "missing")]
    public async Task ClassifyRefusesBadTextsWith400(string body)
    {
        (int status, JsonElement json, _) = await _server.PostAsync("v1/classify", body);
        Assert.AreEqual(400, status);
        Assert.AreEqual("texts", json.GetProperty("error").GetProperty("param").GetString());
    }
}
