// The book's chapter 5: pretrain GPT_CONFIG_124M (context 256) on "The Verdict", evaluate every 5 steps, then save the
// checkpoint, the loss plot, and a sample drawn with temperature 1.4 and top-k 25.
using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Gpt2.Torch;
using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using Gpt2.Torch.Training;
using Gpt2MLNet.Samples;
using static TorchSharp.torch;

const string Prompt = "Every effort moves you";

var dataOption = new Option<string?>("--data") { Description = "The text to train on (default: the repository's data/the-verdict.txt)." };
var epochsOption = new Option<int>("--epochs") { Description = "Passes over the training text (a resumed run keeps its own).", DefaultValueFactory = _ => 10 };
var outputOption = new Option<string>("--output") { Description = "Folder for the checkpoint, loss plot and sample.", DefaultValueFactory = _ => Path.Combine("runs", "pretraining") };
var resumeOption = new Option<bool>("--resume") { Description = "Continue from the checkpoint in the output folder (left there by Ctrl+C or an earlier run)." };
var deviceOption = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
var precisionOption = new Option<Precision>("--precision") { Description = "Training precision: float32 or bfloat16 (float32 master weights; a resumed run keeps its own).", DefaultValueFactory = _ => Precision.Float32 };
var root = new RootCommand("Pretrains the book's GPT_CONFIG_124M on a small text, as in chapter 5 of \"Build a Large Language Model (From Scratch)\".")
{
    dataOption, epochsOption, outputOption, resumeOption, deviceOption, precisionOption,
};
root.SetAction(result =>
{
    string? data = result.GetValue(dataOption) ?? FindRepositoryFile(Path.Combine("data", "the-verdict.txt"));
    if (data is null)
    {
        Console.Error.WriteLine($"data/the-verdict.txt was not found above {AppContext.BaseDirectory} or the current directory; pass --data PATH.");
        return 2;
    }
    return Run(data, result.GetValue(epochsOption), result.GetValue(outputOption)!, result.GetValue(resumeOption), TorchDevices.Parse(result.GetValue(deviceOption)),
        result.GetValue(precisionOption));
});
return root.Parse(args).Invoke();

static int Run(string dataPath, int epochs, string output, bool resume, Device device, Precision precision)
{
    var clock = Stopwatch.StartNew();
    Gpt2Tokenizer tokenizer = Gpt2Tokenizer.Default;
    (string trainText, string validationText) = TrainValidationSplit.SplitText(File.ReadAllText(dataPath), 0.9);
    NextTokenBatches Batches(string text, bool training) =>
        new(new NextTokenWindows(tokenizer.Encode(text, allowSpecialTokens: true), maxLength: 256, stride: 256),
            batchSize: 2, shuffle: training, seed: 123, dropLast: training, device: device);
    NextTokenBatches train = Batches(trainText, training: true), validation = Batches(validationText, training: false);

    string checkpoints = Path.Combine(output, "checkpoints");
    LanguageModelTrainer trainer;
    if (resume)
    {
        trainer = LanguageModelTrainer.Resume(checkpoints, device);
    }
    else
    {
        random.manual_seed(123);
        var model = new Gpt2Model(Gpt2Config.Book124M with { ContextLength = 256 }, device);
        InitializeAsTheBook(model);
        trainer = new LanguageModelTrainer(model, new LanguageModelTrainingOptions
        {
            Epochs = epochs,
            LearningRate = 4e-4,
            WeightDecay = 0.1,
            EvaluationInterval = 5,
            EvaluationBatches = 5,
            SamplePrompt = tokenizer.Encode(Prompt),
            Seed = 123,
            CheckpointDirectory = checkpoints,
            Precision = precision,
        });
    }
    using Gpt2Model trained = trainer.Model;
    using (trainer)
    {
        Console.WriteLine($"{dataPath}: {train.Count} training and {validation.Count} validation batches of 2 x 256 tokens; " +
            $"{trained.ParameterCount:N0} parameters on {trained.Device.type} in {trainer.Options.Precision}, {get_num_threads()} threads.");
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
            Console.WriteLine($"Stopped after {trainer.StepsCompleted} steps; the checkpoint is in {checkpoints}. Continue with --resume.");
            return 130;
        }

        string plot = Path.Combine(output, "loss.png");
        LossCurvePlot.Save(plot, trainer.Evaluations);
        int[] sample = ConsolePhase.Run("Drawing a sample", () => new Gpt2Generator(trained).Generate(tokenizer.Encode(Prompt),
            new GenerationOptions { MaxNewTokens = 15, Temperature = 1.4, TopK = 25, Seed = 123 }));
        string text = tokenizer.Decode(sample);
        File.WriteAllText(Path.Combine(output, "sample.txt"), text);
        Console.WriteLine($"Sample (temperature 1.4, top-k 25): {text.Replace('\n', ' ')}");
        Console.WriteLine($"Checkpoint: {TrainingCheckpoint.Locate(checkpoints)}; loss plot: {plot}; wall time {clock.Elapsed:hh\\:mm\\:ss}.");
        Console.WriteLine(FormattableString.Invariant($"Final: train loss {final.TrainLoss:F3}, val loss {final.ValidationLoss:F3}"));
        return 0;
    }
}

// The book's GPTModel keeps PyTorch's default initialisation: embeddings N(0, 1), linear weights and biases
// U(-1/sqrt(fan in), 1/sqrt(fan in)), LayerNorm 1 and 0. With GPT-2's initialisation instead (embeddings N(0, 0.02)),
// this run, at a constant 4e-4 without warmup or clipping, stalls near loss 6 and diverges for a few steps around step 35.
static void InitializeAsTheBook(Gpt2Model model)
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
