// Scores with the packed Gpt2MLNet.ML alone, no TorchSharp backend: loads the zip TrainingApp saved, in a new process.
// Usage: ScoringApp <model zip> [<family model zip>]. Exits non-zero when a check fails.
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Microsoft.ML;

if (args.Length is not (1 or 2))
{
    Console.Error.WriteLine("usage: ScoringApp <model zip> [<family model zip>]");
    return 2;
}
int failures = 0;
void Check(bool ok, string what)
{
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}");
    if (!ok)
        failures++;
}

// libtorch's native files, on Linux, Windows and macOS.
string[] LibtorchFiles() => [.. Directory.EnumerateFiles(AppContext.BaseDirectory, "*", SearchOption.AllDirectories)
    .Select(Path.GetFileName)
    .Where(name => name!.StartsWith("libtorch", StringComparison.Ordinal) || name.StartsWith("torch_", StringComparison.Ordinal)
        || name is "torch.dll" or "libc10.so" or "c10.dll" or "libc10.dylib")
    .Select(name => name!)];

// 1. The application's output holds no libtorch: the backend is the application's choice, and this one chose none.
string[] before = LibtorchFiles();
Check(before.Length == 0, $"no libtorch in {AppContext.BaseDirectory}" + (before.Length == 0 ? "" : $": {string.Join(", ", before)}"));

// 2. The tokenizer works without a backend.
int[] ids = Gpt2Tokenizer.Default.Encode("Hello, world!");
Check(ids.SequenceEqual([15496, 11, 995, 0]), $"tokenizer without a backend: [{string.Join(", ", ids)}]");

// 3. The zip loads in a fresh MLContext and predicts (ONNX Runtime does the work), with no registration call: ML.NET
//    loads the assembly of the zip's mappings by the name the zip records, though nothing here has touched it yet.
bool LoadedYet() => AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "Microsoft.ML.Gpt2");
Check(!LoadedYet(), "Microsoft.ML.Gpt2 is not loaded before the zip is");
var mlContext = new MLContext();
ITransformer model = mlContext.Model.Load(args[0], out DataViewSchema inputSchema);
var engine = mlContext.Model.CreatePredictionEngine<Message, Prediction>(model, inputSchema);
var spamText = "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only.";
var hamText = "Ok, I'll be home soon. Do you want me to pick up some milk on the way?";
Prediction spam = engine.Predict(new Message { Text = spamText });
Prediction ham = engine.Predict(new Message { Text = hamText });
Console.WriteLine($"     '{spamText[..40]}...' -> {spam.PredictedLabel} [{string.Join(", ", spam.Score.Select(s => s.ToString("F3")))}]");
Console.WriteLine($"     '{hamText[..40]}...' -> {ham.PredictedLabel} [{string.Join(", ", ham.Score.Select(s => s.ToString("F3")))}]");
Check(spam.PredictedLabel == "spam" && ham.PredictedLabel == "ham"
        && spam.Score.Length == 2 && Math.Abs(spam.Score.Sum() - 1) < 1e-4 && Math.Abs(ham.Score.Sum() - 1) < 1e-4,
    "loaded zip predicts spam for the prize message and ham for the milk message, with probabilities summing to 1");

// 3b. A Llama-family classifier's zip, whose tokenizer (tokenizer.json) travels inside it, predicts here what it
//     predicted in memory where it was trained (TrainingApp wrote those predictions beside it).
if (args.Length == 2)
{
    ITransformer family = mlContext.Model.Load(args[1], out _);
    Prediction[] expected = System.Text.Json.JsonSerializer.Deserialize<Prediction[]>(File.ReadAllText(args[1] + ".expected.json"))!;
    var familyEngine = mlContext.Model.CreatePredictionEngine<Message, Prediction>(family);
    int same = 0;
    double worst = 0;
    foreach (Prediction memory in expected)
    {
        Prediction zip = familyEngine.Predict(new Message { Text = memory.Text });
        if (zip.PredictedLabel == memory.PredictedLabel)
            same++;
        worst = Math.Max(worst, zip.Score.Zip(memory.Score).Max(pair => Math.Abs(pair.First - pair.Second)));
    }
    Check(expected.Length > 0 && same == expected.Length && worst <= 1e-4,
        $"family zip: {same} of {expected.Length} labels as in memory, scores within {worst:G2} (at most 1e-4)");
}

// 4. Creating a model without a backend fails with an error that names the package to add.
try
{
    using var gpt = new Gpt2Model(new Gpt2Config { ContextLength = 16, EmbeddingSize = 8, HeadCount = 1, LayerCount = 1 });
    Check(false, "new Gpt2Model(config) without a backend threw nothing");
}
catch (Exception e)
{
    Console.WriteLine($"     {e.GetType().FullName}: {e.Message}");
    Console.WriteLine($"     inner: {e.InnerException?.GetType().FullName}");
    Check(e is InvalidOperationException && e.Message.Contains("no libtorch backend", StringComparison.OrdinalIgnoreCase)
            && e.Message.Contains("dotnet add package TorchSharp-cpu", StringComparison.Ordinal) && e.InnerException is not null,
        "new Gpt2Model(config) without a backend: InvalidOperationException naming TorchSharp-cpu, TorchSharp's exception inside");
}

// 5. So does fitting an ML.NET GPT-2 classifier, which seeds libtorch before it creates the model.
try
{
    FitAClassifier(mlContext, [new Message { Label = "spam", Text = spamText }, new Message { Label = "ham", Text = hamText }]);
    Check(false, "fitting a classifier without a backend threw nothing");
}
catch (Exception e)
{
    Check(e is InvalidOperationException && e.Message.Contains("dotnet add package TorchSharp-cpu", StringComparison.Ordinal),
        $"fitting a classifier without a backend: {e.GetType().Name} naming TorchSharp-cpu");
}

// 6. ... and left no libtorch behind.
string[] after = LibtorchFiles();
Check(after.Length == 0, "still no libtorch in the output after the failed model creation" + (after.Length == 0 ? "" : $": {string.Join(", ", after)}"));

Console.WriteLine(failures == 0 ? "ScoringApp: all checks passed" : $"ScoringApp: {failures} check(s) failed");
return failures == 0 ? 0 : 1;

// A method of its own, compiled only when called: compiling it loads Microsoft.ML.Gpt2, which step 3 checks is not yet loaded.
[System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
static void FitAClassifier(MLContext mlContext, Message[] messages) =>
    mlContext.Transforms.Conversion.MapValueToKey("Label")
        .Append(mlContext.MulticlassClassification.Trainers.Gpt2(sentence1ColumnName: "Text", baseModel: Gpt2.Torch.LanguageModelSource.Random("mini")))
        .Fit(mlContext.Data.LoadFromEnumerable(messages));

public sealed class Message
{
    public string Label { get; set; } = "";
    public string Text { get; set; } = "";
}

public sealed class Prediction
{
    public string Text { get; set; } = "";
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}
