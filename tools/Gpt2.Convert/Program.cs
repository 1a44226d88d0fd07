using System.CommandLine;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Downloads;
using Gpt2MLNet.Samples;
using static TorchSharp.torch;

var source = new Argument<string>("source") { Description = "An OpenAI GPT-2 release folder (hparams.json, model.ckpt.*), or a size to download: 124M, 355M, 774M, 1558M." };
var output = new Argument<string>("output") { Description = "The Hugging Face-layout folder to write (config.json, model.safetensors, tokenizer files)." };

var root = new RootCommand("Converts OpenAI's original TensorFlow GPT-2 checkpoints to Hugging Face-layout safetensors folders.") { source, output };
root.SetAction(async (result, cancellationToken) =>
{
    try
    {
        using var model = await OpenAICheckpoint.LoadPretrainedAsync(result.GetValue(source)!, CPU, progress: new ConsoleDownloadProgress(), cancellationToken: cancellationToken);
        string folder = result.GetValue(output)!;
        Gpt2Checkpoint.Save(model, folder);
        Console.WriteLine($"Wrote {model.ParameterCount:N0} parameters ({Gpt2Checkpoint.WeightsFileName}, {Gpt2Checkpoint.ConfigFileName}) to {Path.GetFullPath(folder)}.");
        return 0;
    }
    catch (Exception e) when (e is IOException or ArgumentException or DownloadException)
    {
        Console.Error.WriteLine(e.Message);
        return 1;
    }
});
return await root.Parse(args).InvokeAsync();
