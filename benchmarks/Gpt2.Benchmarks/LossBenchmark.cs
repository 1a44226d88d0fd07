using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Training;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Gpt2.Benchmarks;

/// <summary>
/// <c>--bench loss</c>: the next-token loss with its backward on random hidden states of <c>tokens</c> positions, in each
/// precision: the product's <see cref="LanguageModelLoss.OutputHeadCrossEntropy"/> against the plain recipe (the head's
/// logits taken to float32 for <c>cross_entropy</c>, through autograd), and the head's products alone. Milliseconds per
/// pass, the median of 3 after one warm-up.
/// </summary>
internal sealed class LossBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    public void Run(int tokens, Precision[] precisions)
    {
        foreach (Precision precision in precisions)
        {
            using var scope = NewDisposeScope();
            ScalarType type = precision.ToScalarType();
            random.manual_seed(0);
            Tensor hidden = randn(tokens, Config.EmbeddingSize, device: Device).to(type).requires_grad_();
            Tensor weight = (randn(Config.VocabSize, Config.EmbeddingSize, device: Device) * 0.02).to(type).requires_grad_();
            Tensor targets = randint(0, Config.VocabSize, [tokens], dtype: int64, device: Device);
            Tensor logits;
            using (no_grad())
                logits = weight.matmul(hidden.t());
            double Ms(Action pass)
            {
                pass();
                var times = new double[3];
                for (int i = 0; i < times.Length; i++)
                {
                    Synchronize();
                    var clock = Stopwatch.StartNew();
                    pass();
                    Synchronize();
                    times[i] = clock.Elapsed.TotalMilliseconds;
                }
                return Math.Round(times.Order().ElementAt(1), 1);
            }
            void Clear()
            {
                hidden.grad?.zero_();
                weight.grad?.zero_();
            }
            Report("loss", new
            {
                precision = Name(precision), tokens,
                product_ms = Ms(() => { using var s = NewDisposeScope(); Clear(); LanguageModelLoss.OutputHeadCrossEntropy(hidden, weight, targets).backward(); }),
                product_no_grad_ms = Ms(() => { using var s = NewDisposeScope(); using var g = no_grad(); LanguageModelLoss.OutputHeadCrossEntropy(hidden, weight, targets); }),
                plain_ms = Ms(() =>
                {
                    using var s = NewDisposeScope();
                    Clear();
                    F.cross_entropy(weight.matmul(hidden.t()).t().to(float32), targets).backward();
                }),
                head_forward_ms = Ms(() => { using var s = NewDisposeScope(); using var g = no_grad(); weight.matmul(hidden.t()); }),
                head_state_gradient_ms = Ms(() => { using var s = NewDisposeScope(); using var g = no_grad(); logits.t().matmul(weight); }),
                head_state_gradient_transposed_ms = Ms(() => { using var s = NewDisposeScope(); using var g = no_grad(); weight.t().matmul(logits).t(); }),
                head_weight_gradient_ms = Ms(() => { using var s = NewDisposeScope(); using var g = no_grad(); logits.matmul(hidden); }),
            });
        }
    }
}
