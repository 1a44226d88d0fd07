using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using Gpt2.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

/// <summary>How one training row trains: its name in the JSON, the loop's precision, and (float32 on CUDA) TF32.</summary>
internal sealed record TrainingMode(string Name, Precision Precision, bool AllowTF32 = false)
{
    public static TrainingMode Of(Precision precision) => new(precision.ToString().ToLowerInvariant(), precision);
}

/// <summary>
/// <c>--bench train</c>: the product's training loop (<see cref="LanguageModelTrainer"/>, AdamW, clipping to norm 1, dropout 0)
/// on random tokens, in each mode side by side: every mode's trainer runs on a thread of its own, and they take turns step
/// by step (only one steps at a time), so that a machine whose load changes (a shared one) slows them alike. The first
/// <c>warmUpSteps</c> steps of each are not timed. Each row reports tokens/s, the model FLOPs per token x tokens/s as a
/// fraction of the yardstick (the 1024-cube matmul of <see cref="MatmulBenchmark"/> in that precision, timed in the same
/// turns: a burst of them before each timed step), and the step's phases as the loop marks them
/// (<see cref="TrainingPhases"/>; on a GPU each phase ends with a synchronisation).
/// </summary>
internal sealed class TrainingBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    private static readonly TrainingPhase[] TimedPhases = [.. Enum.GetValues<TrainingPhase>().Where(p => p != TrainingPhase.Start)];

    /// <returns>Training tokens per second, per mode.</returns>
    public double[] Run(int batch, int sequenceLength, int steps, TrainingMode[] modes, int warmUpSteps = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        if (modes.Where(m => m.Precision == Precision.Float32).Select(m => m.AllowTF32).Distinct().Count() > 1)
            throw new ArgumentException("float32 with and without TF32 cannot run side by side: the loop sets TF32 for the whole process; run them one after the other.");
        LanguageModelConfig config = Config.WithoutDropout();
        var turns = new Turns(modes.Length);
        var runs = modes.Select((mode, i) => new ModeRun(this, config, mode, turns, i, batch, sequenceLength, warmUpSteps + steps, warmUpSteps)).ToArray();
        try
        {
            Thread[] threads = [.. runs.Select(run => new Thread(run.Train, maxStackSize: 16 << 20))];
            foreach (Thread thread in threads)
                thread.Start();
            foreach (Thread thread in threads)
                thread.Join();
            if (runs.FirstOrDefault(r => r.Failure is not null) is { } failed)
                throw new InvalidOperationException($"Training in {failed.Mode.Name} failed.", failed.Failure);
            return [.. runs.Select(run =>
            {
                double seconds = run.PhaseMilliseconds.Sum() / 1000;
                double tokensPerSecond = (double)batch * sequenceLength * steps / seconds;
                double Ms(TrainingPhase phase) => Math.Round(run.PhaseMilliseconds[Array.IndexOf(TimedPhases, phase)] / steps, 1);
                Report("train", new
                {
                    precision = run.Mode.Name, tf32 = Device.type == DeviceType.CUDA && run.Mode.AllowTF32, batch, seq = sequenceLength, steps,
                    warm_up_steps = warmUpSteps, dropout = 0.0, side_by_side = runs.Length,
                    tokens_per_s = Math.Round(tokensPerSecond, 1), ms_per_step = Math.Round(1000 * seconds / steps),
                    flops_per_token = run.FlopsPerToken, yardstick_gflop_per_s = Math.Round(run.YardstickFlopsPerSecond / 1e9, 1),
                    yardstick_fraction = Math.Round(run.FlopsPerToken * tokensPerSecond / run.YardstickFlopsPerSecond, 3),
                    zero_gradients_ms = Ms(TrainingPhase.ZeroGradients), forward_ms = Ms(TrainingPhase.Forward), loss_ms = Ms(TrainingPhase.Loss),
                    backward_ms = Ms(TrainingPhase.Backward), gradients_to_masters_ms = Ms(TrainingPhase.GradientsToMasters),
                    clipping_ms = Ms(TrainingPhase.Clipping), optimizer_ms = Ms(TrainingPhase.Optimizer), refresh_working_ms = Ms(TrainingPhase.RefreshWorking),
                });
                return tokensPerSecond;
            })];
        }
        finally
        {
            foreach (ModeRun run in runs)
                run.Dispose();
        }
    }

    /// <summary>Whose turn it is to take a step; a run that ends (or fails) hands its turns on for good.</summary>
    private sealed class Turns(int count)
    {
        private readonly bool[] _finished = new bool[count];
        private int _current;

        public void Wait(int index)
        {
            lock (this)
            {
                while (_current != index)
                    Monitor.Wait(this);
            }
        }

        public void Pass(int index, bool finished = false)
        {
            lock (this)
            {
                _finished[index] |= finished;
                if (_current != index)
                    return;
                for (int next = 1; next <= count; next++)
                {
                    int candidate = (index + next) % count;
                    if (!_finished[candidate])
                    {
                        _current = candidate;
                        break;
                    }
                }
                Monitor.PulseAll(this);
            }
        }
    }

    /// <summary>One mode's model, trainer and phase times.</summary>
    private sealed class ModeRun : IDisposable
    {
        private readonly TrainingBenchmark _bench;
        private readonly Turns _turns;
        private readonly int _index;
        private readonly int _totalSteps;
        private readonly int _warmUpSteps;
        private readonly CausalLanguageModel _model;
        private readonly LanguageModelTrainer _trainer;
        private readonly NextTokenBatches _train;
        private readonly NextTokenBatches _validation;

        public ModeRun(TrainingBenchmark bench, LanguageModelConfig config, TrainingMode mode, Turns turns, int index, int batch, int sequenceLength, int totalSteps, int warmUpSteps)
        {
            _bench = bench;
            Mode = mode;
            _turns = turns;
            _index = index;
            _totalSteps = totalSteps;
            _warmUpSteps = warmUpSteps;
            random.manual_seed(0);
            _model = config.CreateModel(bench.Device);
            FlopsPerToken = TrainingFlopsPerToken(_model, sequenceLength);
            var draw = new Random(0);
            int[] tokens = [.. Enumerable.Range(0, totalSteps * batch * sequenceLength + 1).Select(_ => draw.Next(config.VocabSize))];
            _train = new NextTokenBatches(new NextTokenWindows(tokens, sequenceLength, sequenceLength), batch, device: bench.Device);
            _validation = new NextTokenBatches(new NextTokenWindows(tokens[..(batch * sequenceLength + 1)], sequenceLength, sequenceLength), batch, device: bench.Device);
            _trainer = new LanguageModelTrainer(_model, new LanguageModelTrainingOptions
            {
                Epochs = 1, MaxSteps = totalSteps, Precision = mode.Precision, AllowTF32 = mode.AllowTF32, MaxGradientNorm = 1.0,
                EvaluationInterval = 0, EvaluationBatches = 1, LogInterval = 1,
            });
            // A step's turn ends when it is reported; the last step's after the run's closing evaluation.
            _trainer.StepCompleted += step =>
            {
                if (step.Step + 1 < _totalSteps)
                    _turns.Pass(_index);
            };
        }

        public TrainingMode Mode { get; }

        public double FlopsPerToken { get; }

        /// <summary>Milliseconds in each phase but <see cref="TrainingPhase.Start"/>, over the timed steps.</summary>
        public double[] PhaseMilliseconds { get; } = new double[TimedPhases.Length];

        public Exception? Failure { get; private set; }

        /// <summary>The yardstick's FLOP/s over the bursts before the timed steps.</summary>
        public double YardstickFlopsPerSecond => _yardstickFlops / _yardstickSeconds;

        private const int YardstickBurst = 10;
        private double _yardstickFlops, _yardstickSeconds;

        // A burst of the yardstick's matmuls, timed (after the warm-up steps) into the yardstick's FLOP/s.
        private void Yardstick(Tensor a, Tensor b, bool timed)
        {
            _bench.Synchronize();
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < YardstickBurst; i++)
                a.matmul(b).Dispose();
            _bench.Synchronize();
            if (timed)
            {
                _yardstickSeconds += clock.Elapsed.TotalSeconds;
                _yardstickFlops += 2.0 * MatmulBenchmark.Size * MatmulBenchmark.Size * MatmulBenchmark.Size * YardstickBurst;
            }
        }

        public void Train()
        {
            var clock = new Stopwatch();
            int step = 0;
            ScalarType type = Mode.Precision.ToScalarType();
            using Tensor a = randn(MatmulBenchmark.Size, MatmulBenchmark.Size, device: _bench.Device).to(type);
            using Tensor b = randn(MatmulBenchmark.Size, MatmulBenchmark.Size, device: _bench.Device).to(type);
            TrainingPhases.Observer = phase =>
            {
                if (phase == TrainingPhase.Start)
                {
                    _turns.Wait(_index);
                    step++;
                    Yardstick(a, b, timed: step > _warmUpSteps);
                    clock.Restart();
                    return;
                }
                if (!clock.IsRunning)
                    return;   // an evaluation's forward pass, outside any step
                _bench.Synchronize();
                if (step > _warmUpSteps)
                    PhaseMilliseconds[Array.IndexOf(TimedPhases, phase)] += clock.Elapsed.TotalMilliseconds;
                if (phase == TrainingPhase.RefreshWorking)
                    clock.Reset();
                else
                    clock.Restart();
            };
            try
            {
                _trainer.Train(_train, _validation);
            }
            catch (Exception e)
            {
                Failure = e;
            }
            finally
            {
                TrainingPhases.Observer = null;
                _turns.Pass(_index, finished: true);
            }
        }

        public void Dispose()
        {
            _trainer.Dispose();
            _model.Dispose();
        }
    }
}
