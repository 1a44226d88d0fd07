using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// bfloat16 inference measured against float32: the tiny fixture's reference logits (from NumPy and PyTorch in float64,
/// an oracle independent of this model) and perplexity on The Verdict.
/// </summary>
[TestClass]
public sealed class PrecisionTests
{
    // bfloat16 keeps 8 significant bits, so every rounding is off by at most 2^-8 relative. A logit is h . w_v (the final
    // hidden state and the head's row v), so its error is at most |dh . w_v| + |h . dw_v| <= (e_h + e_w) |h| |w_v|, relative
    // to the terms' sizes rather than to the logit, which is a sum of terms of both signs (the fixture's random weights give
    // logits below 1 from terms as large). On the way from the embeddings to the head the residual stream is rounded in
    // sequence 10 times in the fixture's 2 blocks (the embedding sum; per block the attention output, its residual sum, the
    // MLP output and its residual sum; the final LayerNorm), and the head adds the rounding of its weight and of its
    // product: 12 roundings, which in the worst case add up linearly. Bound: 12 x 2^-8 x |h| |w_v| for every logit.
    private const double RoundingsToTheLogits = 12;

    private static CausalLanguageModel LoadFixture(Precision precision) => Gpt2Checkpoint.Load(TestPaths.TinyGpt2, CPU).ToPrecision(precision);

    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    [DataRow(2)]
    public void BFloat16LogitsFollowTheReferenceWithinBFloat16Rounding(int k)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using CausalLanguageModel model = LoadFixture(Precision.BFloat16);
        model.eval();
        Assert.AreEqual(Precision.BFloat16, model.Precision);
        Assert.AreEqual(bfloat16, model.TokenEmbedding.dtype);
        SafetensorsFile expected = ReferenceFixture.Shared.Expected;
        Tensor ids = expected.ReadTensor($"input_ids.{k}");
        Tensor reference = expected.ReadTensor($"logits.{k}");
        Tensor logits = model.Forward(ids.unsqueeze(0)).squeeze(0);
        Assert.AreEqual(float32, logits.dtype, "logits are float32 in every precision");
        Tensor hiddenNorms = ReferenceFixture.Shared.Model.ComputeHiddenStates(ids.unsqueeze(0)).squeeze(0).norm(1, keepdim: true);   // [tokens, 1]
        Tensor rowNorms = ReferenceFixture.Shared.Model.TokenEmbedding.norm(1).unsqueeze(0);                                        // [1, vocab]
        Tensor bound = RoundingsToTheLogits / 256 * hiddenNorms * rowNorms;
        Tensor error = (logits - reference).abs();
        double maxError = error.max().item<float>(), worst = (error / bound).max().item<float>();
        Console.WriteLine($"logits.{k}: bfloat16 max error {maxError:G4} (largest logit {reference.abs().max().item<float>():G4}); " +
            $"at most {worst:P1} of the bound, that is {worst * RoundingsToTheLogits:F2} x 2^-8 |h| |w_v|");
        Assert.IsTrue(worst <= 1, $"bfloat16 logits.{k} exceed {RoundingsToTheLogits} x 2^-8 |h| |w_v| by a factor {worst}.");
        // And bfloat16 is really in use: float32 is 100 times closer.
        double float32Error = (ReferenceFixture.Shared.Model.Forward(ids.unsqueeze(0)).squeeze(0) - reference).abs().max().item<float>();
        Assert.IsTrue(float32Error * 100 < maxError, $"float32 error {float32Error}, bfloat16 error {maxError}");
    }

    [TestMethod]
    public void BFloat16PerplexityOnTheVerdictIsWithinOnePercentOfFloat32()
    {
        using var scope = NewDisposeScope();
        // The Verdict in GPT-2 tokens, folded into the fixture's 1000-token vocabulary, in windows of its 32-token context.
        int[] tokens = [.. Gpt2Tokenizer.Default.Encode(File.ReadAllText(TestPaths.Data("the-verdict.txt"))).Select(id => id % 1000)];
        var batches = new NextTokenBatches(new NextTokenWindows(tokens, 32, 32), 16, dropLast: false, vocabularySize: 1000);
        double Perplexity(Gpt2Model model)
        {
            using var noGrad = no_grad();
            model.eval();
            double lossSum = 0;
            long count = 0;
            foreach ((Tensor inputs, Tensor targets) in batches.Batches())
            {
                Tensor logits = model.Forward(inputs);
                lossSum += nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction: nn.Reduction.Sum).item<float>();
                count += targets.numel();
            }
            return Math.Exp(lossSum / count);
        }
        using CausalLanguageModel float32Model = LoadFixture(Precision.Float32), bfloat16Model = LoadFixture(Precision.BFloat16);
        double float32Perplexity = Perplexity((Gpt2Model)float32Model), bfloat16Perplexity = Perplexity((Gpt2Model)bfloat16Model);
        Console.WriteLine($"perplexity on The Verdict: float32 {float32Perplexity:F3}, bfloat16 {bfloat16Perplexity:F3}");
        Assert.AreEqual(float32Perplexity, bfloat16Perplexity, 0.01 * float32Perplexity);
        Assert.AreNotEqual(float32Perplexity, bfloat16Perplexity);
    }

    [TestMethod]
    public void ABFloat16ModelDecodesWithABFloat16CacheAndFloat32Logits()
    {
        using var scope = NewDisposeScope();
        using CausalLanguageModel model = LoadFixture(Precision.BFloat16);
        using KeyValueCache cache = model.CreateCache(1);
        Assert.AreEqual(Precision.BFloat16, model.Precision);
        int[] prompt = ReferenceFixture.Shared.Tokens("greedy.prompt");
        var options = new GenerationOptions { MaxNewTokens = 32 - prompt.Length };
        int[] cached = new Gpt2Generator((Gpt2Model)model).Generate(prompt, options);
        // The uncached oracle: a full forward pass over all the tokens at each step, greedy argmax.
        var uncached = new List<int>(prompt);
        using (no_grad())
        {
            model.eval();
            for (int step = 0; step < options.MaxNewTokens; step++)
            {
                using var stepScope = NewDisposeScope();
                Tensor window = tensor(uncached.Select(t => (long)t).ToArray(), int64).unsqueeze(0);
                uncached.Add((int)model.Forward(window)[0, -1].argmax().item<long>());
            }
        }
        CollectionAssert.AreEqual(uncached, cached);
        long[] reference = ReferenceFixture.Shared.Expected.ReadTensor("greedy.output").data<long>().ToArray();
        int agreeing = cached.Zip(reference).Skip(prompt.Length).TakeWhile(pair => pair.First == pair.Second).Count();
        Console.WriteLine($"bfloat16 greedy output follows the float64 reference for {agreeing} of {cached.Length - prompt.Length} tokens");
    }

    [TestMethod]
    public void ConvertingToFloat32AgainGivesFloat32Weights()
    {
        using CausalLanguageModel model = LoadFixture(Precision.BFloat16).ToPrecision(Precision.Float32);
        Assert.AreEqual(Precision.Float32, model.Precision);
        Assert.IsTrue(model.parameters().All(p => p.dtype == float32));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ToPrecision((Precision)7));
    }
}
