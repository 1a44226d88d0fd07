// The book's chapter 7 as an ML.NET pipeline: instruction-tune GPT-2 on instruction-data.json (85/10/5 split in file
// order), plot the losses, answer the test instructions, write instruction-data-with-response.json, save the model zip,
// and score the answers with a judge model through any chat client: Ollama or an OpenAI-compatible endpoint (or
// judge-free metrics when no judge answers).
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Gpt2.Torch;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using InstructionTuning;
using Microsoft.ML;
using Microsoft.ML.Gpt2;
using Microsoft.ML.Gpt2.Generation;
using Microsoft.ML.Gpt2.Instructions;
using Microsoft.ML.Gpt2.Evaluation;
using Gpt2MLNet.Samples;

var dataOption = new Option<string?>("--data") { Description = "instruction-data.json (default: downloaded once, or the repository's copy offline)." };
var presetOption = new Option<string>("--model", "--preset") { Description = ModelChoice.Description + " The book's is 355M.", DefaultValueFactory = _ => "355M" };
var weightsOption = new Option<string?>("--weights") { Description = "A checkpoint folder to start from, or 'random' (default: the published weights of --preset, random when they cannot be had)." };
var epochsOption = new Option<int>("--epochs") { Description = "Passes over the training rows.", DefaultValueFactory = _ => 2 };
var maxNewTokensOption = new Option<int>("--max-new-tokens") { Description = "Longest response generated.", DefaultValueFactory = _ => 256 };
var evaluationIntervalOption = new Option<int>("--eval-interval") { Description = "Steps between validation-loss evaluations.", DefaultValueFactory = _ => 5 };
var outputOption = new Option<string>("--output") { Description = "Folder for the checkpoints, the plot, the responses and the model zip.", DefaultValueFactory = _ => Path.Combine("runs", "instruction-tuning") };
var judgeOption = new Option<string>("--judge")
{
    Description = "The judge: ollama:MODEL[@URL] (default URL http://localhost:11434) or openai:MODEL@URL (an OpenAI-compatible endpoint; key in OPENAI_API_KEY).",
    DefaultValueFactory = _ => "ollama:llama3",
};
var loraRankOption = new Option<int?>("--lora-rank") { Description = "Train low-rank adapters of this rank (the book's appendix E) instead of every weight." };
var loraAlphaOption = new Option<double>("--lora-alpha") { Description = "Scale of the adapters' output, the book's alpha (with --lora-rank).", DefaultValueFactory = _ => 16 };
var deviceOption = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
var engineOption = new Option<string>("--engine")
{
    Description = $"How the fitted model writes the test responses: {string.Join(", ", DecodingEngine.Names)} (auto: ONNX Runtime float32 on a CPU, TorchSharp on CUDA).",
    DefaultValueFactory = _ => "auto",
};
engineOption.AcceptOnlyFromAmong([.. DecodingEngine.Names]);
var precisionOption = new Option<Precision>("--precision") { Description = "Training precision: Float32 or BFloat16 (float32 master weights).", DefaultValueFactory = _ => Precision.Float32 };
var checkpointFlags = new CheckpointFlags("Continue from the newest checkpoint (left by Ctrl+C, a kill or an earlier run) with the same data and options; start afresh when there is none.");
var root = new RootCommand("Instruction-tunes GPT-2 as in chapter 7 of \"Build a Large Language Model (From Scratch)\", in an ML.NET pipeline.")
{
    dataOption, presetOption, weightsOption, epochsOption, maxNewTokensOption, evaluationIntervalOption, outputOption, judgeOption,
    loraRankOption, loraAlphaOption, deviceOption, precisionOption, engineOption,
};
foreach (Option flag in checkpointFlags.All)
    root.Options.Add(flag);
root.SetAction(async (result, cancellationToken) =>
{
    var clock = Stopwatch.StartNew();
    string output = result.GetValue(outputOption)!;
    Directory.CreateDirectory(output);
    (InstructionRow[] train, InstructionRow[] validation, InstructionRow[] test) =
        InstructionData.Split(await InstructionData.LocateAsync(result.GetValue(dataOption), cancellationToken));
    Console.WriteLine($"{train.Length} training, {validation.Length} validation and {test.Length} test rows.");

    var mlContext = new MLContext(seed: 123);
    var options = new Gpt2InstructionTuner.Options
    {
        BaseModel = await ModelChoice.ResolveAsync(result.GetValue(presetOption)!, result.GetValue(weightsOption), cancellationToken),
        MaxEpochs = result.GetValue(epochsOption),
    };
    options.Generation.Sampling = new GenerationOptions { MaxNewTokens = result.GetValue(maxNewTokensOption) };
    options.EvaluationInterval = result.GetValue(evaluationIntervalOption);
    options.ValidationSet = mlContext.Data.LoadFromEnumerable(validation);
    options.Device = TorchDevices.Parse(result.GetValue(deviceOption));
    if (result.GetValue(loraRankOption) is int rank)
    {
        options.TrainableLayers = TrainableLayers.LoRA;
        options.LoRARank = rank;
        options.LoRAAlpha = result.GetValue(loraAlphaOption);
    }
    options.CancellationToken = cancellationToken;
    var evaluations = new List<TrainingEvaluation>();
    var display = new ConsoleTrainingProgress();
    options.StepCompleted = display.OnStep;
    options.Evaluated = evaluation =>
    {
        evaluations.Add(evaluation);
        display.OnEvaluation(evaluation);
    };
    options.Precision = result.GetValue(precisionOption);
    if (!checkpointFlags.TryRead(result, output, out string? checkpoints, out bool resume))
        return 2;
    options.CheckpointDirectory = checkpoints;
    options.ResumeFromCheckpoint = resume;
    options.Generation.Engine = DecodingEngine.Parse(result.GetValue(engineOption)!);
    options.Generation.Progress = progress =>
        Console.Write($"\rAnswering the test instructions: {progress.RowsCompleted} of {test.Length} rows, {progress.TokensPerSecond:F1} tokens/s");

    var trainingClock = Stopwatch.StartNew();
    using Gpt2InstructionTransformer model = display.Run(() => new Gpt2InstructionTuner(mlContext, options).Fit(mlContext.Data.LoadFromEnumerable(train)));
    TimeSpan trainingTime = trainingClock.Elapsed;
    string plot = Path.Combine(output, "loss.png");
    LossCurvePlot.Save(plot, evaluations);
    Console.WriteLine($"Trained {model.Model.ParameterCount:N0} parameters in {trainingTime:hh\\:mm\\:ss}; loss plot: {plot}");

    var generationClock = Stopwatch.StartNew();
    InstructionRow[] answered = [.. mlContext.Data.CreateEnumerable<InstructionRow>(model.Transform(mlContext.Data.LoadFromEnumerable(test)), reuseRowObject: false)];
    Console.WriteLine($"\nAnswered {answered.Length} test instructions in {generationClock.Elapsed:hh\\:mm\\:ss}.");
    foreach (InstructionRow row in answered.Take(3))
        Console.WriteLine($"\n{row.Instruction}\n  Reference: {row.Output}\n  Model:     {row.Response}");

    string responses = Path.Combine(output, "instruction-data-with-response.json");
    OutputFile.WriteAllText(responses, JsonSerializer.Serialize(answered.Select(r => new Dictionary<string, string>
    {
        ["instruction"] = r.Instruction,
        ["input"] = r.Input,
        ["output"] = r.Output,
        ["model_response"] = r.Response,
    }), new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    Console.WriteLine($"\nResponses: {responses}");

    string zip = Path.Combine(output, "instruction-model.zip");
    IDataView testView = mlContext.Data.LoadFromEnumerable(test[..1]);
    bool same = true;
    try
    {
        ConsolePhase.Run("Saving the model zip", () => mlContext.Model.SaveAtomically(model, testView.Schema, zip));
        var loadingContext = new MLContext();
        same = ConsolePhase.Run("Reloading the model zip and answering the first test row", () =>
            loadingContext.Model.CreatePredictionEngine<InstructionRow, InstructionRow>(loadingContext.Model.Load(zip, out _)).Predict(test[0]).Response == answered[0].Response);
        Console.WriteLine($"Model zip: {zip} ({new FileInfo(zip).Length / 1e6:F1} MB); reloaded in ONNX Runtime, it answers the first test row {(same ? "the same" : "DIFFERENTLY")}.");
    }
    catch (NotSupportedException e)
    {
        // A model a zip cannot carry (the message says why, e.g. generation options ONNX Runtime's search operators lack).
        Console.WriteLine($"No model zip: {e.Message}");
    }

    if (options.BaseModel.IsRandom)
        Console.WriteLine("This model started from random weights, not a pretrained GPT-2: expect weak answers (the book's 355M starts pretrained).");
    await ResponseReport.PrintAsync(answered, JudgeClient.Parse(result.GetValue(judgeOption)!), cancellationToken);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"Final: train loss {evaluations[^1].TrainLoss:F3}, val loss {evaluations[^1].ValidationLoss:F3}, training {trainingTime:hh\\:mm\\:ss}, whole run {clock.Elapsed:hh\\:mm\\:ss}"));
    return same ? 0 : 1;
});
return await root.Parse(args).InvokeAsync();
