using Gpt2.Torch;
using Gpt2.Torch.Data;
using Gpt2.Torch.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

internal sealed class PerplexityBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    /// <summary>
    /// Perplexity of the model (random weights, seed 0, as every other measurement here) on The Verdict in windows of the
    /// context length, in float32 and in bfloat16: the quality cost of bfloat16 inference.
    /// </summary>
    public void Run(string textPath)
    {
        random.manual_seed(0);
        using var model = Config.CreateModel(Device);
        int[] tokens = Gpt2.Torch.Tokenization.Gpt2Tokenizer.Default.Encode(File.ReadAllText(textPath));
        int window = Math.Min(Config.ContextLength, 256);
        var batches = new NextTokenBatches(new NextTokenWindows(tokens, window, window), 4, dropLast: false, device: Device, vocabularySize: Config.VocabSize);
        var perplexities = new Dictionary<Precision, double>();
        foreach (Precision precision in new[] { Precision.Float32, Precision.BFloat16 })
        {
            model.ToPrecision(precision);
            model.eval();
            using var noGrad = no_grad();
            double lossSum = 0;
            long count = 0;
            foreach ((Tensor inputs, Tensor targets) in batches.Batches())
            {
                using var scope = NewDisposeScope();
                Tensor logits = model.Forward(inputs);
                lossSum += nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction: nn.Reduction.Sum).item<float>();
                count += targets.numel();
                inputs.Dispose();
                targets.Dispose();
            }
            perplexities[precision] = Math.Exp(lossSum / count);
        }
        Report("perplexity", new
        {
            text = Path.GetFileName(textPath), tokens = tokens.Length, window,
            float32 = Math.Round(perplexities[Precision.Float32], 3), bfloat16 = Math.Round(perplexities[Precision.BFloat16], 3),
            relative_difference = Math.Round(perplexities[Precision.BFloat16] / perplexities[Precision.Float32] - 1, 6),
        });
    }
}
