using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tests;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2MLNet.Samples.Pretraining.Tests;

/// <summary>The pretraining sample with a Llama-family config.json and that family's tokenizer (<c>--tokenizer</c>).</summary>
[TestClass]
public sealed class FamilyModelSampleTests : TemporaryDirectoryTest
{
    private static (int ExitCode, string Output) Run(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["OMP_NUM_THREADS"] = "1";
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Pretraining.dll"));
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill();
            Assert.Fail($"The sample did not finish:\n{output}");
        }
        return (process.ExitCode, output + error.Result);
    }

    [TestMethod]
    public void TrainsALlamaFamilyConfigWithItsTokenizerAndRefusesOneWithout()
    {
        string config = Path.Combine(Directory, "config.json");
        File.WriteAllText(config, (TinyFamilyModel.Config with { ContextLength = 32 }).ToJson());
        string tokenizer = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "tokenizer")).FullName;
        TinyFamilyModel.WriteTokenizer(tokenizer);
        string output = Path.Combine(Directory, "run");
        string[] common = ["--data", TestPaths.Data("the-verdict.txt"), "--model", config, "--max-steps", "6", "--device", "cpu", "--output", output];

        (int refused, string refusal) = Run(common);
        Assert.AreEqual(2, refused, refusal);
        StringAssert.Contains(refusal, "--tokenizer");

        (int exitCode, string log) = Run([.. common, "--tokenizer", tokenizer]);
        Assert.AreEqual(0, exitCode, log);
        StringAssert.Contains(log, "Sample (temperature 1.4, top-k 25)");
        using CausalLanguageModel trained = LanguageModelSource.Pretrained(Path.Combine(output, "checkpoints")).Load(CPU);
        Assert.IsInstanceOfType<LlamaModel>(trained);
        Assert.AreEqual(6L, TrainingCheckpoint.ReadOptions<LanguageModelTrainingOptions>(TrainingCheckpoint.Locate(Path.Combine(output, "checkpoints"))).MaxSteps);
    }
}
