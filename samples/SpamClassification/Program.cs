// The book's chapter 6 as an ML.NET program: fine-tune GPT-2 to tell spam from ham in SMS messages, evaluate it with
// ML.NET's metrics, save it as a model zip, load it back and classify new messages; and compare with ML.NET's classic
// FeaturizeText + SdcaMaximumEntropy pipeline on the same split.
using System.CommandLine;
using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Downloads;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using Microsoft.Data.Analysis;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Gpt2;
using Microsoft.ML.Gpt2.Classification;
using Gpt2MLNet.Samples;
using SpamClassification;

var dataOption = new Option<string?>("--data") { Description = "The SMSSpamCollection file; downloaded from UCI into the cache when omitted." };
var weightsOption = new Option<string?>("--weights") { Description = "A GPT-2 checkpoint folder, or 'random' to train from random weights; by default the preset's published weights are downloaded when possible." };
var presetOption = new Option<string>("--model", "--preset") { Description = ModelChoice.Description, DefaultValueFactory = _ => "124M" };
var epochsOption = new Option<int>("--epochs") { Description = "Training epochs.", DefaultValueFactory = _ => 5 };
var outputOption = new Option<string>("--output") { Description = "Folder for the CSV splits, the checkpoints, the loss and accuracy plots and the model zip.", DefaultValueFactory = _ => "spam-output" };
var trainableOption = new Option<string?>("--trainable")
{
    Description = "What trains: all, last-block, head or lora; by default all layers from random weights, the last block from published ones.",
};
trainableOption.AcceptOnlyFromAmong("all", "last-block", "head", "lora");
var loraRankOption = new Option<int>("--lora-rank") { Description = "Rank of the low-rank adapters (with --trainable lora).", DefaultValueFactory = _ => 16 };
var loraAlphaOption = new Option<double>("--lora-alpha") { Description = "Scale of the adapters' output, the book's alpha (with --trainable lora).", DefaultValueFactory = _ => 16 };
var precisionOption = new Option<Precision>("--precision") { Description = "Training precision: Float32 or BFloat16 (float32 master weights).", DefaultValueFactory = _ => Precision.Float32 };
var checkpointFlags = new CheckpointFlags("Continue from the newest checkpoint (left by Ctrl+C, a kill or an earlier run) with the same data and options; start afresh when there is none.");
var root = new RootCommand("Fine-tunes GPT-2 as an SMS spam classifier with ML.NET (the book's chapter 6).")
{
    dataOption, weightsOption, presetOption, epochsOption, outputOption, trainableOption, loraRankOption, loraAlphaOption, precisionOption,
};
foreach (Option flag in checkpointFlags.All)
    root.Options.Add(flag);
root.SetAction(async (result, cancellationToken) =>
{
    string output = Directory.CreateDirectory(result.GetValue(outputOption)!).FullName;
    string dataPath = result.GetValue(dataOption) ?? await SmsData.LocateAsync(cancellationToken);
    var mlContext = new MLContext(seed: 123);

    Console.WriteLine($"Loading {dataPath}");
    SpamSplits splits = SpamSplits.Create(mlContext, dataPath, output);

    var options = new Gpt2TextClassifier.Options
    {
        BaseModel = await ModelChoice.ResolveAsync(result.GetValue(presetOption)!, result.GetValue(weightsOption), cancellationToken),
        Sentence1ColumnName = "Text",
        MaxEpochs = result.GetValue(epochsOption),
    };
    options.TrainableLayers = result.GetValue(trainableOption) switch
    {
        "all" => TrainableLayers.All,
        "last-block" => TrainableLayers.LastBlock,
        "head" => TrainableLayers.HeadOnly,
        "lora" => TrainableLayers.LoRA,
        // The book's row 8: from random weights every layer trains.
        _ => options.BaseModel.IsRandom ? TrainableLayers.All : TrainableLayers.LastBlock,
    };
    options.LoRARank = result.GetValue(loraRankOption);
    options.LoRAAlpha = result.GetValue(loraAlphaOption);
    options.ValidationSet = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(splits.Train).Transform(splits.Validation);
    options.CancellationToken = cancellationToken;
    var display = new ConsoleTrainingProgress();
    var evaluations = new List<TrainingEvaluation>();
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

    var gpt2Pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
        .Append(mlContext.MulticlassClassification.Trainers.Gpt2(options))
        .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    var sdcaPipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
        .Append(mlContext.Transforms.Text.FeaturizeText("Features", "Text"))
        .Append(mlContext.MulticlassClassification.Trainers.SdcaMaximumEntropy())
        .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    string lora = options.TrainableLayers == TrainableLayers.LoRA ? $" rank {options.LoRARank}, alpha {options.LoRAAlpha}," : "";
    Console.WriteLine($"\nFine-tuning GPT-2 ({options.TrainableLayers}{lora} trainable, batch {options.BatchSize}, {options.MaxEpochs} epochs, lr {options.LearningRate})");
    var watch = Stopwatch.StartNew();
    var gpt2 = display.Run(() => gpt2Pipeline.Fit(splits.Train));
    TimeSpan gpt2Time = watch.Elapsed;
    Gpt2TextClassificationTransformer classifier = gpt2.OfType<Gpt2TextClassificationTransformer>().Single();
    long parameters = classifier.Model.parameters().Sum(p => p.numel());
    Console.WriteLine($"Trained {classifier.TrainedParameterCount:N0} of {parameters:N0} parameters ({100.0 * classifier.TrainedParameterCount / parameters:F2}%)");
    ModelReport gpt2Report = ModelReport.Evaluate("GPT-2", mlContext, gpt2, splits, gpt2Time);
    if (evaluations.Count > 0)
    {
        // The book's figures 6.16 and 6.17: loss and accuracy of the training and validation sets as training goes on.
        LossCurvePlot.Save(Path.Combine(output, "loss.png"), evaluations);
        LossCurvePlot.Save(Path.Combine(output, "accuracy.png"), evaluations, metric: "accuracy");
        Console.WriteLine($"Plots: {Path.Combine(output, "loss.png")}, {Path.Combine(output, "accuracy.png")}");
    }

    watch.Restart();
    ITransformer sdca = ConsolePhase.Run("Training FeaturizeText + SdcaMaximumEntropy", () => sdcaPipeline.Fit(splits.Train));
    ModelReport sdcaReport = ModelReport.Evaluate("FeaturizeText + SdcaMaximumEntropy", mlContext, sdca, splits, watch.Elapsed);
    ModelReport.PrintSideBySide(gpt2Report, sdcaReport);

    string zipPath = Path.Combine(output, "spam-classifier.zip");
    Console.WriteLine();
    PredictionEngine<SpamSplits.Message, SpamPrediction> engine;
    try
    {
        ConsolePhase.Run("Saving the model zip", () => mlContext.Model.SaveAtomically(gpt2, splits.Train.Schema, zipPath));
        Console.WriteLine($"Saved {zipPath} ({new FileInfo(zipPath).Length / 1e6:F0} MB)");
        var loadContext = new MLContext();
        engine = ConsolePhase.Run("Reloading the model zip", () =>
            loadContext.Model.CreatePredictionEngine<SpamSplits.Message, SpamPrediction>(loadContext.Model.Load(zipPath, out _)));
    }
    catch (NotSupportedException e)
    {
        // A model a zip cannot carry (the message says why, e.g. a family without ONNX export): classify with the fitted model in memory.
        Console.WriteLine($"No model zip: {e.Message}");
        engine = mlContext.Model.CreatePredictionEngine<SpamSplits.Message, SpamPrediction>(gpt2);
    }
    foreach (string text in new[]
    {
        "You are a winner you have been specially selected to receive $1000 cash or a $2000 award.",
        "Hey, just wanted to check if we're still on for dinner tonight? Let me know!",
    })
    {
        SpamPrediction prediction = engine.Predict(new SpamSplits.Message { Text = text });
        Console.WriteLine($"{prediction.PredictedLabel} ({prediction.Score.Max():P1}): {text}");
    }
    return 0;
});
return await root.Parse(args).InvokeAsync();
