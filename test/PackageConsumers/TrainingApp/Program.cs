using Gpt2.Torch;
// Trains with the packed packages and the CPU backend the application chose (TorchSharp-cpu), on this machine as it is:
// on Debian 12 TorchSharp loads only thanks to Gpt2MLNet.Torch's buildTransitive libstdc++ fix.
// Usage: TrainingApp <SMSSpamCollection> <output zip> [<family output zip>]. Exits non-zero when a check fails.
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;
using Microsoft.ML;
using Microsoft.ML.Gpt2;
using Microsoft.ML.Gpt2.Classification;
using static TorchSharp.torch;

if (args.Length is not (2 or 3))
{
    Console.Error.WriteLine("usage: TrainingApp <SMSSpamCollection> <output zip> [<family output zip>]");
    return 2;
}
int failures = 0;
void Check(bool ok, string what)
{
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}");
    if (!ok)
        failures++;
}

// 1. The tokenizer: GPT-2's ids for a known string, and back.
int[] ids = Gpt2Tokenizer.Default.Encode("Hello, world!");
Check(ids.SequenceEqual([15496, 11, 995, 0]) && Gpt2Tokenizer.Default.Decode(ids) == "Hello, world!",
    $"tokenizer: 'Hello, world!' -> [{string.Join(", ", ids)}] and back");

// 2. A tiny random model's forward pass on libtorch (the first TorchSharp call: the model's constructor checks the backend).
var tiny = new Gpt2Config { ContextLength = 128, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 };
using (var model = new Gpt2Model(tiny))
using (var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]))
using (var logits = model.forward(input))
{
    Check(logits.shape.SequenceEqual([1L, ids.Length, tiny.VocabSize]) && logits.isfinite().all().item<bool>(),
        $"forward pass: {model.ParameterCount:N0} parameters, logits [{string.Join(", ", logits.shape)}], all finite");
}

// 3. The same kind of tiny model behind Microsoft.Extensions.AI (Gpt2MLNet.AI): a chat answer and an embedding.
using (Gpt2ChatClient chat = Gpt2ChatClient.Create(LanguageModelSource.Random(tiny)))
{
    Check(chat.Service.EngineName == "onnxruntime", $"a chat client from a model source decodes with the default engine for a CPU: {chat.Service.EngineName}");
    ChatResponse answer = await chat.GetResponseAsync("Hello, world!", new ChatOptions { MaxOutputTokens = 5 });
    Check(answer.Usage?.InputTokenCount == 4 && answer.Usage.OutputTokenCount == 5 && answer.FinishReason == ChatFinishReason.Length,
        $"chat client: '{answer.Text}' ({answer.Usage?.OutputTokenCount} tokens, {answer.FinishReason})");
}
// The same model decoding through ONNX Runtime (its natives come with Gpt2MLNet.ML): the same greedy answer.
using (var model = new Gpt2Model(tiny))
using (IChatClient torchChat = Gpt2ChatClient.Create(LanguageModelSource.FromModel(model)))
using (IChatClient onnxChat = Gpt2ChatClient.Create(LanguageModelSource.FromModel(model), engine: DecodingEngine.OnnxRuntime()))
{
    string expected = (await torchChat.GetResponseAsync("Hello, world!", new ChatOptions { MaxOutputTokens = 8 })).Text;
    string actual = (await onnxChat.GetResponseAsync("Hello, world!", new ChatOptions { MaxOutputTokens = 8 })).Text;
    Check(actual == expected && actual.Length > 0, $"chat client decoding through ONNX Runtime: '{actual}', TorchSharp's '{expected}'");
}
using (var embedder = Gpt2EmbeddingGenerator.Create(LanguageModelSource.Random(tiny), normalize: true))
{
    ReadOnlyMemory<float> vector = await embedder.GenerateVectorAsync("Hello, world!");
    Check(vector.Length == tiny.EmbeddingSize && Math.Abs(vector.ToArray().Sum(v => v * v) - 1) < 1e-4,
        $"embedding generator: {vector.Length} dimensions, unit length");
}

// 4. A tiny GPT-2 classifier fitted in an ML.NET pipeline on SMS messages (150 ham, 150 spam), checked on 100 others.
List<Message> messages = [.. File.ReadLines(args[0]).Select(line => line.Split('\t', 2)).Select(p => new Message { Label = p[0], Text = p[1] })];
List<Message> Take(string label, int skip, int count) => [.. messages.Where(m => m.Label == label).Skip(skip).Take(count)];
var mlContext = new MLContext(seed: 1);
var logSources = new HashSet<string>();
mlContext.Log += (_, e) => { lock (logSources) logSources.Add(e.Source); };
Console.WriteLine($"     on Microsoft.ML {System.Diagnostics.FileVersionInfo.GetVersionInfo(typeof(MLContext).Assembly.Location).ProductVersion}");
IDataView train = mlContext.Data.LoadFromEnumerable([.. Take("ham", 0, 150), .. Take("spam", 0, 150)]);
IDataView test = mlContext.Data.LoadFromEnumerable([.. Take("ham", 150, 50), .. Take("spam", 150, 50)]);
var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
    .Append(mlContext.MulticlassClassification.Trainers.Gpt2(new Gpt2TextClassifier.Options
    {
        BaseModel = LanguageModelSource.Random(tiny),
        Sentence1ColumnName = nameof(Message.Text),
        TrainableLayers = TrainableLayers.All,
        LearningRate = 2e-3,
        MaxEpochs = 4,
        MaxLength = 64,
        Device = CPU,
    }))
    .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
ITransformer classifier = pipeline.Fit(train);
var metrics = mlContext.MulticlassClassification.Evaluate(classifier.Transform(test));
Check(metrics.MacroAccuracy > 0.8, $"classifier: held-out macro accuracy {metrics.MacroAccuracy:P1} on 100 messages (chance 50%)");
// The catalog's estimator works for this MLContext (reached through ML.NET's internals): its ML.NET components report here.
Check(logSources.Any(source => source.StartsWith("Gpt2MLNet", StringComparison.Ordinal)),
    "the catalog's estimator reported to the application's MLContext.Log, so it obeys that context");

mlContext.Model.SaveAtomically(classifier, train.Schema, args[1]);
Check(new FileInfo(args[1]).Length > 0, $"saved {args[1]} ({new FileInfo(args[1]).Length:N0} bytes)");

// 5. A tiny Llama-family model with its own tokenizer.json (the tests' TinyFamilyModel, copied here by the script)
//    fine-tuned the same way; its zip carries the tokenizer. The predictions it made in memory go beside the zip, for
//    ScoringApp to compare with the zip's in a process without libtorch.
if (args.Length == 3)
{
    string folder = Gpt2.Torch.Tests.TinyFamilyModel.Write(Path.Combine(Path.GetTempPath(), $"family-{Guid.NewGuid():N}"));
    try
    {
        ITransformer family = mlContext.Transforms.Conversion.MapValueToKey("Label")
            .Append(mlContext.MulticlassClassification.Trainers.Gpt2(new Gpt2TextClassifier.Options
            {
                BaseModel = LanguageModelSource.Pretrained(folder),
                Sentence1ColumnName = nameof(Message.Text),
                TrainableLayers = TrainableLayers.All,
                LearningRate = 3e-3,
                MaxEpochs = 3,
                MaxLength = 64,
                Device = CPU,
            }))
            .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"))
            .Fit(train);
        var familyMetrics = mlContext.MulticlassClassification.Evaluate(family.Transform(test));
        Check(familyMetrics.MacroAccuracy > 0.7, $"family classifier: held-out macro accuracy {familyMetrics.MacroAccuracy:P1} on 100 messages (chance 50%)");
        mlContext.Model.SaveAtomically(family, train.Schema, args[2]);
        ExpectedPrediction[] expected = [.. mlContext.Data.CreateEnumerable<ExpectedPrediction>(family.Transform(test), reuseRowObject: false)];
        File.WriteAllText(args[2] + ".expected.json", System.Text.Json.JsonSerializer.Serialize(expected));
        Check(expected.Length == 100, $"saved {args[2]} ({new FileInfo(args[2]).Length:N0} bytes) and its {expected.Length} predictions in memory");
    }
    finally
    {
        Directory.Delete(folder, recursive: true);
    }
}

Console.WriteLine(failures == 0 ? "TrainingApp: all checks passed" : $"TrainingApp: {failures} check(s) failed");
return failures == 0 ? 0 : 1;

public sealed class Message
{
    public string Label { get; set; } = "";
    public string Text { get; set; } = "";
}

public sealed class ExpectedPrediction
{
    public string Text { get; set; } = "";
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}
