using System.Diagnostics;
using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

internal sealed class TrainerBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    /// <summary>
    /// Optimizer steps through <see cref="LanguageModelTrainer"/>, each accumulating <paramref name="microBatches"/> batches,
    /// with clipping, on random tokens; the first step is a warm-up and the final evaluation is not timed.
    /// </summary>
    public void Run(int batch, int sequenceLength, int microBatches, int steps)
    {
        random.manual_seed(0);
        using var model = Config.WithoutDropout().CreateModel(Device);
        var tokenDraw = new Random(0);
        int[] tokens = [.. Enumerable.Range(0, (steps + 1) * microBatches * batch * sequenceLength + 1).Select(_ => tokenDraw.Next(Config.VocabSize))];
        NextTokenBatches Batches(int[] ids) => new(new NextTokenWindows(ids, sequenceLength, sequenceLength), batch, device: Device);
        using var trainer = new LanguageModelTrainer(model, new LanguageModelTrainingOptions
        {
            Epochs = 1, GradientAccumulationSteps = microBatches, MaxGradientNorm = 1.0, EvaluationInterval = 0, EvaluationBatches = 1,
        });
        var clock = new Stopwatch();
        trainer.StepCompleted += step =>
        {
            Synchronize();
            if (step.Step == 0)
                clock.Start();
            else if (step.Step == steps)
                clock.Stop();
        };
        trainer.Train(Batches(tokens), Batches(tokens[..(batch * sequenceLength + 1)]));
        double seconds = clock.Elapsed.TotalSeconds;
        Report("trainer", new
        {
            batch, seq = sequenceLength, micro_batches = microBatches, steps, dropout = 0.0,
            tokens_per_s = Math.Round((double)batch * sequenceLength * microBatches * steps / seconds, 1),
            ms_per_step = Math.Round(1000 * seconds / steps),
        });
    }
}
