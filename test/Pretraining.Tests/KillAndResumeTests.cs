using System.Diagnostics;
using System.Text.Json;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tests;
using Gpt2.Torch.Training;

namespace Gpt2MLNet.Samples.Pretraining.Tests;

/// <summary>
/// The pretraining sample as a process, the way a run dies in practice: SIGKILLed (the OOM killer, a preempted VM) after
/// its first checkpoint, with no chance to save anything, and started again with <c>--resume</c>.
/// </summary>
[TestClass]
public sealed class KillAndResumeTests : TemporaryDirectoryTest
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(3);

    private static string Sample => Path.Combine(AppContext.BaseDirectory, "Pretraining.dll");

    // One block, 32 wide, 32 tokens of context, dropout on (so that the random state must survive the kill too), 12 steps
    // with an evaluation (and so a checkpoint) after steps 1, 6, 11 and 12: a run of a few seconds.
    private string[] Arguments(string output, bool resume = false)
    {
        string config = Path.Combine(Directory, "config.json");
        if (!File.Exists(config))
            File.WriteAllText(config, new Gpt2Config { ContextLength = 32, EmbeddingSize = 32, HeadCount = 2, LayerCount = 1, Dropout = 0.1 }.ToJson());
        string[] arguments = ["--data", TestPaths.Data("the-verdict.txt"), "--model", config, "--max-steps", "12", "--device", "cpu", "--output", output];
        return resume ? [.. arguments, "--resume"] : arguments;
    }

    private readonly System.Collections.Concurrent.ConcurrentQueue<string?> _output = new();

    private string Output => string.Join('\n', _output);

    private Process Start(string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // One thread: the tiny model's operations are too small to share, and on a busy machine threads waiting for each other cost several times over.
        start.Environment["OMP_NUM_THREADS"] = "1";
        start.ArgumentList.Add(Sample);
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, line) => _output.Enqueue(line.Data);
        process.ErrorDataReceived += (_, line) => _output.Enqueue(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void RunToTheEnd(string[] arguments)
    {
        using Process process = Start(arguments);
        if (!process.WaitForExit(RunLimit))
        {
            process.Kill();
            Assert.Fail($"The sample did not finish within {RunLimit}:\n{Output}");
        }
        process.WaitForExit(); // the output's last lines
        Assert.AreEqual(0, process.ExitCode, Output);
    }

    // The evaluations (step and metrics, not the wall-clock time) and the weights of a run's last checkpoint.
    private static (List<(long Step, Dictionary<string, double> Metrics)> Evaluations, byte[] Weights) Final(string output)
    {
        string folder = TrainingCheckpoint.Locate(Path.Combine(output, "checkpoints"));
        using JsonDocument state = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "trainer_state.json")));
        List<(long, Dictionary<string, double>)> evaluations = [.. state.RootElement.GetProperty("Evaluations").EnumerateArray().Select(e => (
            e.GetProperty("Step").GetInt64(),
            e.GetProperty("Metrics").EnumerateObject().ToDictionary(m => m.Name, m => m.Value.GetDouble())))];
        return (evaluations, File.ReadAllBytes(Path.Combine(folder, Gpt2Checkpoint.WeightsFileName)));
    }

    [TestMethod]
    public void ARunKilledAfterItsFirstCheckpointAndResumedEndsWithTheUninterruptedRunsLossesAndWeights()
    {
        string uninterrupted = Path.Combine(Directory, "uninterrupted"), killed = Path.Combine(Directory, "killed");
        RunToTheEnd(Arguments(uninterrupted));

        string latest = Path.Combine(killed, "checkpoints", "latest");
        using (Process process = Start(Arguments(killed)))
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(latest) && !process.HasExited && clock.Elapsed < RunLimit)
                Thread.Sleep(2);
            Assert.IsFalse(process.HasExited, $"The run ended before it could be killed:\n{Output}");
            Assert.IsTrue(File.Exists(latest), $"No checkpoint within {RunLimit}:\n{Output}");
            process.Kill(); // SIGKILL: nothing runs in the process after this
            process.WaitForExit();
        }
        string killedAt = File.ReadAllText(latest);
        Assert.AreNotEqual("step-000012", killedAt, "the kill came before the last step's checkpoint");

        RunToTheEnd(Arguments(killed, resume: true));
        StringAssert.Contains(Output, "continuing after step", "the second run resumed rather than starting afresh");

        (var expectedEvaluations, byte[] expectedWeights) = Final(uninterrupted);
        (var evaluations, byte[] weights) = Final(killed);
        Assert.HasCount(expectedEvaluations.Count, evaluations, Output);
        for (int i = 0; i < expectedEvaluations.Count; i++)
        {
            Assert.AreEqual(expectedEvaluations[i].Step, evaluations[i].Step);
            foreach ((string metric, double expected) in expectedEvaluations[i].Metrics)
                Assert.AreEqual(expected, evaluations[i].Metrics[metric], $"{metric} at step {evaluations[i].Step}: resuming on the CPU is exact");
        }
        CollectionAssert.AreEqual(expectedWeights, weights, "the final weights are the uninterrupted run's, bit for bit");
    }
}
