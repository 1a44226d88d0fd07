using System.Diagnostics;
using Gpt2.Torch;
using Gpt2.Torch.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Benchmarks;

internal sealed class KernelsBenchmark(Device device, string presetName) : Benchmark(device, presetName)
{
    /// <summary>
    /// Where batch-1 decoding time goes: one token's matrix-vector products (the 48 block layers' weights and the head) timed
    /// alone, in each precision, for each way of calling them: <c>linear(x, W)</c> on the [out, in] weight,
    /// <c>matmul(x, W^T)</c> on a transposed contiguous copy, <c>W.matmul(x^T)</c>, and <c>mv</c>.
    /// </summary>
    public void Run(int iterations = 20)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Gpt2Config gpt2 = Config as Gpt2Config ?? throw new ArgumentException($"--bench kernels times GPT-2's layer shapes; use a GPT-2 preset, not {Preset}.");
        long e = gpt2.EmbeddingSize, m = gpt2.ResolvedMlpSize;
        (long Out, long In, int Count)[] shapes = [(3 * e, e, Config.LayerCount), (e, e, Config.LayerCount), (m, e, Config.LayerCount), (e, m, Config.LayerCount), (Config.VocabSize, e, 1)];
        foreach (ScalarType type in new[] { float32, bfloat16 })
        {
            var weights = shapes.Select(s => Enumerable.Range(0, s.Count).Select(_ => (randn(s.Out, s.In, device: Device) * 0.02).to(type)).ToArray()).ToArray();
            var transposed = weights.Select(layer => layer.Select(w => w.t().contiguous()).ToArray()).ToArray();
            var inputs = shapes.Select(s => randn(1, s.In, device: Device).to(type)).ToArray();
            var variants = new (string Name, Func<Tensor, Tensor, Tensor, Tensor> Run)[]
            {
                ("linear", (x, w, wt) => nn.functional.linear(x, w)),
                ("matmul_transposed_copy", (x, w, wt) => x.matmul(wt)),
                ("weight_matmul_x_t", (x, w, wt) => w.matmul(x.t())),
                ("mv", (x, w, wt) => w.mv(x.squeeze(0))),
            };
            foreach ((string name, var run) in variants)
            {
                double[] ms = new double[shapes.Length];
                for (int s = 0; s < shapes.Length; s++)
                {
                    for (int i = 0; i < 2; i++)
                        for (int l = 0; l < weights[s].Length; l++)
                            run(inputs[s], weights[s][l], transposed[s][l]).Dispose();
                    Synchronize();
                    var clock = Stopwatch.StartNew();
                    for (int i = 0; i < iterations; i++)
                        for (int l = 0; l < weights[s].Length; l++)
                            run(inputs[s], weights[s][l], transposed[s][l]).Dispose();
                    Synchronize();
                    ms[s] = clock.Elapsed.TotalMilliseconds / iterations;
                }
                double blockMs = ms[..^1].Sum(), headMs = ms[^1];
                double bytes = shapes.Sum(s => (double)s.Out * s.In * s.Count) * (type == float32 ? 4 : 2);
                Report("kernels", new
                {
                    precision = Name(type.ToPrecision()), variant = name,
                    block_ms = Math.Round(blockMs, 2), head_ms = Math.Round(headMs, 2),
                    qkv_ms = Math.Round(ms[0], 2), attn_proj_ms = Math.Round(ms[1], 2), fc_ms = Math.Round(ms[2], 2), mlp_proj_ms = Math.Round(ms[3], 2),
                    gb_per_s = Math.Round(bytes / ((blockMs + headMs) / 1000) / 1e9, 1),
                });
            }
        }
    }
}
