// The book's chapter 5: pretrain GPT_CONFIG_124M (context 256) on "The Verdict", evaluate every 5 steps, then save the
// checkpoint, the loss plot, and a sample drawn with temperature 1.4 and top-k 25.
using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Gpt2.Torch;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using Gpt2MLNet.Samples;
using static TorchSharp.torch;

const string Prompt = "Every effort moves you";

var dataOption = new Option<string?>("--data") { Description = "The text to train on (default: the repository's data/the-verdict.txt)." };
var modelOption = new Option<string>("--model")
{
    Description = "The model to train from scratch: a preset (book-124M, the book's; mini; 124M ...; or a Llama-family size such as smollm2-135m, qwen3-0.6b, with --tokenizer), trained with context 256, or a config.json file of either family, taken as it is.",
    DefaultValueFactory = _ => "book-124M",
};
var tokenizerOption = new Option<string?>("--tokenizer")
{
    Description = "A folder with the tokenizer.json (and tokenizer_config.json) to read the text with; needed for a Llama-family model (default: GPT-2's tokenizer).",
};
var epochsOption = new Option<int>("--epochs") { Description = "Passes over the training text.", DefaultValueFactory = _ => 10 };
var maxStepsOption = new Option<long?>("--max-steps") { Description = "Stop after this many optimizer steps in all (default: every epoch)." };
var outputOption = new Option<string>("--output") { Description = "Folder for the checkpoints, loss plot and sample.", DefaultValueFactory = _ => Path.Combine("runs", "pretraining") };
var checkpointIntervalOption = new Option<int?>("--checkpoint-interval") { Description = "Write a checkpoint every this many steps instead of at every evaluation." };
var keepOption = new Option<int>("--keep-checkpoints") { Description = "Checkpoints kept, the newest included; older ones are deleted.", DefaultValueFactory = _ => 3 };
var checkpointFlags = new CheckpointFlags("Continue from the newest checkpoint (left by Ctrl+C, a kill or an earlier run) with the options and model it was trained with; start afresh when there is none.");
var deviceOption = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
var precisionOption = new Option<Precision>("--precision") { Description = "Training precision: float32 or bfloat16 (float32 master weights).", DefaultValueFactory = _ => Precision.Float32 };
var root = new RootCommand("Pretrains the book's GPT_CONFIG_124M on a small text, as in chapter 5 of \"Build a Large Language Model (From Scratch)\".")
{
    dataOption, modelOption, tokenizerOption, epochsOption, maxStepsOption, outputOption, checkpointIntervalOption, keepOption, deviceOption, precisionOption,
};
foreach (Option flag in checkpointFlags.All)
    root.Options.Add(flag);
root.SetAction(result =>
{
    string? data = result.GetValue(dataOption) ?? FindRepositoryFile(Path.Combine("data", "the-verdict.txt"));
    if (data is null)
    {
        Console.Error.WriteLine($"data/the-verdict.txt was not found above {AppContext.BaseDirectory} or the current directory; pass --data PATH.");
        return 2;
    }
    string output = result.GetValue(outputOption)!;
    if (!checkpointFlags.TryRead(result, output, out string? checkpoints, out bool resume))
        return 2;
    string modelName = result.GetValue(modelOption)!;
    LanguageModelConfig config = File.Exists(modelName) ? LanguageModelConfig.Load(modelName) : LanguageModelConfig.FromPreset(modelName) with { ContextLength = 256 };
    string? tokenizerFolder = result.GetValue(tokenizerOption);
    LanguageModelTokenizer? tokenizer = tokenizerFolder is not null ? HuggingFaceTokenizer.Load(tokenizerFolder) : config.BuiltInTokenizer;
    if (tokenizer is null)
    {
        Console.Error.WriteLine($"A '{config.ModelType}' model has no built-in tokenizer: pass --tokenizer FOLDER (a folder with the tokenizer.json of the model family, for example a downloaded model's).");
        return 2;
    }
    var options = new LanguageModelTrainingOptions
    {
        Epochs = result.GetValue(epochsOption),
        MaxSteps = result.GetValue(maxStepsOption),
        LearningRate = 4e-4,
        WeightDecay = 0.1,
        EvaluationInterval = 5,
        EvaluationBatches = 5,
        SamplePrompt = tokenizer.EncodeWithBeginningOfText(Prompt),
        Tokenizer = tokenizer,
        Seed = 123,
        CheckpointDirectory = checkpoints,
        CheckpointInterval = result.GetValue(checkpointIntervalOption),
        KeepCheckpoints = result.GetValue(keepOption),
        Precision = result.GetValue(precisionOption),
    };
    if (resume && TrainingCheckpoint.Exists(checkpoints!))
    {
        // The run goes on as it started: its model and options come from the checkpoint, whatever the flags say now.
        string folder = TrainingCheckpoint.Locate(checkpoints!);
        config = LanguageModelConfig.Load(Path.Combine(folder, Gpt2Checkpoint.ConfigFileName));
        options = TrainingCheckpoint.ReadOptions<LanguageModelTrainingOptions>(folder) with
        {
            Tokenizer = tokenizer, CheckpointDirectory = checkpoints, CheckpointInterval = options.CheckpointInterval, KeepCheckpoints = options.KeepCheckpoints,
        };
        Console.WriteLine($"Resuming from {folder}.");
    }
    return Run(data, config, tokenizer, options with { ResumeFromCheckpoint = resume }, output, TorchDevices.Parse(result.GetValue(deviceOption)));
});
return root.Parse(args).Invoke();

static int Run(string dataPath, LanguageModelConfig config, LanguageModelTokenizer tokenizer, LanguageModelTrainingOptions options, string output, Device device)
{
    var clock = Stopwatch.StartNew();
    if (tokenizer.VocabSize > config.VocabSize)
    {
        Console.Error.WriteLine($"The tokenizer has {tokenizer.VocabSize} tokens, more than the model's vocab_size {config.VocabSize}: use the tokenizer of the model's family.");
        return 2;
    }
    (string trainText, string validationText) = TrainValidationSplit.SplitText(File.ReadAllText(dataPath), 0.9);
    NextTokenBatches Batches(string text, bool training) =>
        new(new NextTokenWindows(tokenizer.Encode(text, allowSpecialTokens: true), maxLength: config.ContextLength, stride: config.ContextLength),
            batchSize: 2, shuffle: training, seed: 123, dropLast: training, device: device);
    NextTokenBatches train = Batches(trainText, training: true), validation = Batches(validationText, training: false);

    random.manual_seed(123);
    using CausalLanguageModel model = config.CreateModel(device);
    // The chapter's GPT starts from its own initialisation (PyTorch's module defaults); other families keep their own.
    if (config.ModelType == "gpt2")
        InitializeAsTheBook(model);
    using var trainer = new LanguageModelTrainer(model, options);
    Console.WriteLine($"{dataPath}: {train.Count} training and {validation.Count} validation batches of 2 x {config.ContextLength} tokens; " +
        $"{model.ParameterCount:N0} parameters on {model.Device.type} in {options.Precision}, {get_num_threads()} threads; " +
        (options.CheckpointDirectory is null ? "no checkpoints." : $"checkpoints in {options.CheckpointDirectory}" +
            (trainer.StepsCompleted > 0 ? $", continuing after step {trainer.StepsCompleted}." : ".")));
    var display = new ConsoleTrainingProgress(tokenizer.Decode);
    display.Attach(trainer);
    // Ctrl+C or a termination request stops the run after the current step, with a checkpoint to resume from.
    using var stop = new CancellationTokenSource();
    void Stop(PosixSignalContext signal)
    {
        signal.Cancel = true;
        stop.Cancel();
    }
    using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

    TrainingEvaluation final;
    try
    {
        final = display.Run(() => trainer.Train(train, validation, stop.Token));
    }
    catch (OperationCanceledException)
    {
        Console.WriteLine(options.CheckpointDirectory is null
            ? $"Stopped after {trainer.StepsCompleted} steps, without checkpoints."
            : $"Stopped after {trainer.StepsCompleted} steps; the checkpoint is in {options.CheckpointDirectory}. Continue with --resume.");
        return 130;
    }

    Directory.CreateDirectory(output);
    string plot = Path.Combine(output, "loss.png");
    LossCurvePlot.Save(plot, trainer.Evaluations);
    int[] sample = ConsolePhase.Run("Drawing a sample", () =>
    {
        using var generator = new Gpt2Generator(model, tokenizer);
        return generator.Generate(tokenizer.EncodeWithBeginningOfText(Prompt), new GenerationOptions { MaxNewTokens = 15, Temperature = 1.4, TopK = 25, Seed = 123 });
    });
    string text = tokenizer.Decode(sample);
    OutputFile.WriteAllText(Path.Combine(output, "sample.txt"), text);
    Console.WriteLine($"Sample (temperature 1.4, top-k 25): {text.Replace('\n', ' ')}");
    Console.WriteLine((options.CheckpointDirectory is null ? "" : $"Checkpoint: {TrainingCheckpoint.Locate(options.CheckpointDirectory)}; ") +
        $"loss plot: {plot}; wall time {clock.Elapsed:hh\\:mm\\:ss}.");
    Console.WriteLine(FormattableString.Invariant($"Final: train loss {final.TrainLoss:F3}, val loss {final.ValidationLoss:F3}"));
    return 0;
}

// The book's GPTModel keeps PyTorch's default initialisation: embeddings N(0, 1), linear weights and biases
// U(-1/sqrt(fan in), 1/sqrt(fan in)), LayerNorm 1 and 0. With GPT-2's initialisation instead (embeddings N(0, 0.02)),
// this run, at a constant 4e-4 without warmup or clipping, stalls near loss 6 and diverges for a few steps around step 35.
static void InitializeAsTheBook(CausalLanguageModel model)
{
    using var noGrad = no_grad();
    var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
    foreach ((string name, var parameter) in parameters)
    {
        if (name is "wte.weight" or "wpe.weight")
        {
            nn.init.normal_(parameter, 0, 1);
        }
        else if (!name.StartsWith("ln_", StringComparison.Ordinal) && !name.Contains(".ln_", StringComparison.Ordinal))
        {
            Tensor weight = name.EndsWith(".bias", StringComparison.Ordinal) ? parameters[name[..^".bias".Length] + ".weight"] : parameter;
            double bound = 1 / Math.Sqrt(weight.shape[1]);
            nn.init.uniform_(parameter, -bound, bound);
        }
    }
}

// The repository's file, looked for upwards from the executable and from the current directory.
static string? FindRepositoryFile(string relativePath)
{
    foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
    {
        for (DirectoryInfo? folder = new(start); folder is not null; folder = folder.Parent)
        {
            string candidate = Path.Combine(folder.FullName, relativePath);
            if (File.Exists(candidate))
                return candidate;
        }
    }
    return null;
}
