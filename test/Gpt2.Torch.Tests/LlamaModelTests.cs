using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// LlamaModel against the float64 reference of Fixtures/families (written from transformers' modeling_llama.py,
/// modeling_qwen2.py, modeling_qwen3.py and modeling_rope_utils.py): logits, greedy decoding with and without the
/// key/value cache, left-padded batches, bfloat16, LoRA.
/// </summary>
[TestClass]
public sealed class LlamaModelTests
{
    // The reference's logits are O(1) (|logit| <= 4.5); float32 through two or three blocks stays within a few 1e-6.
    private const double Tolerance = 1e-4;

    public static IEnumerable<object[]> Fixtures => LlamaFixture.Names.Select(name => new object[] { name });

    // Catches any departure from Hugging Face's computation: RMSNorm, rotate-half RoPE and its theta, grouped-query
    // sharing (which query heads use which key/value head), Qwen2's biases, Qwen3's q/k norms and head_dim, the tied or
    // untied head, the SwiGLU order of gate and up.
    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void LogitsMatchTheReference(string name)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = LlamaFixture.Load(name);
        using var expected = LlamaFixture.Expected(name);

        Tensor logits = model.Forward(expected.ReadTensor("input_ids"));

        double difference = LlamaFixture.MaxDifference(logits, expected.ReadTensor("logits"));
        Assert.IsTrue(difference < Tolerance, $"{name}: logits differ by {difference}");
    }

    // Catches Llama 3's rope scaling ignored or misapplied: past the original context of 32 tokens the scaled
    // frequencies move these logits by up to 4.9.
    [TestMethod]
    public void Llama3RopeScalingMatchesTheReferencePastTheOriginalContext()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = LlamaFixture.Load("tiny-llama3");
        using var expected = LlamaFixture.Expected("tiny-llama3");

        Tensor logits = model.Forward(expected.ReadTensor("long.input_ids"));

        double difference = LlamaFixture.MaxDifference(logits, expected.ReadTensor("long.logits"));
        Assert.IsTrue(difference < Tolerance, $"logits differ by {difference}");
    }

    // Catches wrong positions or keys after the first pass (cache offsets, a cache that stores the query heads or the
    // unrotated keys, the grouped queries of the one-token steps) and anything that breaks the full pass.
    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void GreedyDecodingMatchesTheReferenceWithAndWithoutTheCache(string name)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = LlamaFixture.Load(name);
        using var expected = LlamaFixture.Expected(name);
        Tensor prompt = expected.ReadTensor("greedy.prompt");
        long[] want = expected.ReadTensor("greedy.output").data<long>().ToArray();
        int steps = want.Length - (int)prompt.shape[1];

        var withoutCache = new List<long>(prompt.data<long>().ToArray());
        for (int step = 0; step < steps; step++)
        {
            using var stepScope = NewDisposeScope();
            Tensor logits = model.Forward(tensor(withoutCache.ToArray(), int64).unsqueeze(0));
            withoutCache.Add(logits[0, -1].argmax().item<long>());
        }
        CollectionAssert.AreEqual(want, withoutCache, $"{name} without the cache");

        using KeyValueCache cache = model.CreateCache(1);
        var withCache = new List<long>(prompt.data<long>().ToArray());
        Tensor next = model.Forward(prompt, cache)[0, -1].argmax();
        for (int step = 0; step < steps; step++)
        {
            using var stepScope = NewDisposeScope();
            long token = next.item<long>();
            withCache.Add(token);
            if (step + 1 < steps)
                next = model.Forward(tensor(new[] { token }, int64).unsqueeze(0), cache)[0, -1].argmax().MoveToOuterDisposeScope();
        }
        CollectionAssert.AreEqual(want, withCache, $"{name} with the cache");
        Assert.AreEqual(want.Length - 1, cache.Length, "the cache holds every token fed");
    }

    // Catches padding that leaks into attention or shifts positions: each left-padded row must give its prompt's logits
    // alone (the reference's rows are checked against single runs). Padded positions are undefined and not compared.
    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void LeftPaddedRowsMatchTheirPromptsAlone(string name)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = LlamaFixture.Load(name);
        using var expected = LlamaFixture.Expected(name);
        Tensor mask = expected.ReadTensor("batch.attention_mask");

        Tensor logits = model.Forward(expected.ReadTensor("batch.input_ids"), attentionMask: mask);

        double difference = LlamaFixture.MaxDifference(logits * mask.unsqueeze(-1), expected.ReadTensor("batch.logits"));
        Assert.IsTrue(difference < Tolerance, $"{name}: padded batch logits differ by {difference}");
    }

    // Catches a cache that loses the padding mask or the per-row positions when decoding a left-padded batch one token
    // at a time (the grouped-query path with a mask): each row must decode exactly as it does alone.
    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void LeftPaddedBatchDecodesEachRowAsAloneThroughTheCache(string name)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = LlamaFixture.Load(name);
        using var expected = LlamaFixture.Expected(name);
        Tensor ids = expected.ReadTensor("batch.input_ids");
        Tensor mask = expected.ReadTensor("batch.attention_mask");
        const int Steps = 5;

        using KeyValueCache cache = model.CreateCache(2);
        Tensor logits = model.Forward(ids, cache, mask)[.., -1];
        var batchTokens = new List<long>[] { [], [] };
        var batchLogits = new List<Tensor>();
        for (int step = 0; step < Steps; step++)
        {
            Tensor next = logits.argmax(-1);
            batchLogits.Add(logits);
            for (int row = 0; row < 2; row++)
                batchTokens[row].Add(next[row].item<long>());
            mask = cat([mask, ones(2, 1, int64)], 1);
            logits = model.Forward(next.unsqueeze(1), cache, mask)[.., -1];
        }

        for (int row = 0; row < 2; row++)
        {
            long[] prompt = [.. ids[row].data<long>().ToArray().Where((_, i) => expected.ReadTensor("batch.attention_mask")[row, i].item<long>() == 1)];
            using KeyValueCache alone = model.CreateCache(1);
            Tensor rowLogits = model.Forward(tensor(prompt, int64).unsqueeze(0), alone)[0, -1];
            for (int step = 0; step < Steps; step++)
            {
                double difference = LlamaFixture.MaxDifference(batchLogits[step][row], rowLogits);
                Assert.IsTrue(difference < Tolerance, $"{name} row {row} step {step}: logits differ from the row alone by {difference}");
                long token = rowLogits.argmax().item<long>();
                Assert.AreEqual(token, batchTokens[row][step], $"{name} row {row} step {step}");
                rowLogits = model.Forward(tensor(new[] { token }, int64).unsqueeze(0), alone)[0, -1];
            }
        }
    }

    // bfloat16 rounds every weight and activation to 8 significant bits (a relative error of up to 2^-9 each, and the
    // logits of up to 4.5 are rounded to steps of 2^-5 before they are widened). Measured against the float64 reference
    // on these fixtures: at most 0.114 for any logit, 0.015 on average. The bounds (0.25 at most, 0.03 on average) leave
    // room for other CPUs' kernels; they catch a conversion that loses more than bfloat16 rounding (float16 overflow,
    // weights or logits cut to 8 bits twice, a head or norm left out of the conversion) and, with the lower bound, a
    // model that does not compute in bfloat16 at all. Subtler rounding (rotary angles or RMSNorm squares in bfloat16)
    // stays within them; those are computed in float32 as Hugging Face does, by construction.
    [TestMethod]
    [DataRow("tiny-llama", "logits", "input_ids")]
    [DataRow("tiny-qwen2", "logits", "input_ids")]
    [DataRow("tiny-qwen3", "logits", "input_ids")]
    [DataRow("tiny-llama3", "long.logits", "long.input_ids")]
    public void BFloat16ModelStaysCloseToTheReference(string name, string logitsName, string idsName)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = LlamaFixture.Load(name, Precision.BFloat16);
        using var expected = LlamaFixture.Expected(name);
        Assert.AreEqual(Precision.BFloat16, model.Precision);
        Assert.IsTrue(model.parameters().All(p => p.dtype == ScalarType.BFloat16), "every parameter is bfloat16");

        Tensor logits = model.Forward(expected.ReadTensor(idsName));

        Assert.AreEqual(ScalarType.Float32, logits.dtype, "logits are float32 in every precision");
        Tensor difference = (logits.to(float64) - expected.ReadTensor(logitsName).to(float64)).abs();
        double largest = difference.max().item<double>(), mean = difference.mean().item<double>();
        Assert.IsTrue(largest < 0.25 && mean < 0.03, $"{name}: bfloat16 logits differ by up to {largest}, {mean} on average");
        Assert.IsTrue(largest > 1e-3, $"{name}: bfloat16 logits differ by only {largest}, so the model did not compute in bfloat16");
    }

    // Catches adapters on the wrong layers, base weights left trainable, adapters that change the outputs before training,
    // and a merge that folds the update in wrongly (transposed, unscaled) or leaves adapter parameters behind.
    [TestMethod]
    [DataRow("tiny-qwen2")]
    [DataRow("tiny-qwen3")]
    public void LoRATrainsOnlyAdaptersAndMergesIntoTheSameOutputs(string name)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = LlamaFixture.Load(name);
        using var expected = LlamaFixture.Expected(name);
        Tensor ids = expected.ReadTensor("input_ids");
        Tensor before = model.Forward(ids);
        string[] names = [.. model.state_dict().Keys];
        var options = new LoRAOptions { Rank = 2, Alpha = 4, Targets = LoRATargets.QueryKeyValue | LoRATargets.MlpInput | LoRATargets.MlpOutput };

        random.manual_seed(22);
        model.AddLoRA(options);

        // rank x (in + out) for every adapted projection (all of q/k/v, gate/up, down; not o_proj).
        long adapterParameters = model.named_parameters()
            .Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal) && !p.name.Contains("o_proj")
                && (p.name.Contains("_proj.", StringComparison.Ordinal) && !p.name.StartsWith("lm_head", StringComparison.Ordinal)))
            .Sum(p => 2 * (p.parameter.shape[0] + p.parameter.shape[1]));
        Assert.AreEqual(adapterParameters, model.TrainableParameterCount);
        Assert.IsTrue(model.named_parameters().Where(p => p.parameter.requires_grad).All(p => p.name.Contains(".lora.")));
        Assert.IsTrue(model.named_parameters().Any(p => p.name == "model.layers.0.self_attn.k_proj.lora.A"));
        Assert.IsFalse(model.named_parameters().Any(p => p.name.StartsWith("model.layers.0.self_attn.o_proj.lora", StringComparison.Ordinal)));
        Assert.AreEqual(0, LlamaFixture.MaxDifference(model.Forward(ids), before), "adapters start as no change (B = 0)");

        foreach ((string parameterName, var parameter) in model.named_parameters().Where(p => p.name.EndsWith(".lora.B", StringComparison.Ordinal)))
            parameter.copy_(randn_like(parameter) * 0.01);
        Tensor adapted = model.Forward(ids);
        Assert.IsTrue(LlamaFixture.MaxDifference(adapted, before) > 1e-2, "trained adapters change the outputs");

        model.MergeLoRA();

        Assert.IsNull(model.LoRA);
        CollectionAssert.AreEqual(names, model.state_dict().Keys.ToArray(), "the merged model has the checkpoint's names only");
        double difference = LlamaFixture.MaxDifference(model.Forward(ids), adapted);
        // Equal up to float32 rounding: W x + alpha (x A) B against (W + alpha (A B)^T) x (measured 4.4e-6, logits up to 4.5).
        Assert.IsTrue(difference < 1e-5, $"merged outputs differ from the adapted ones by {difference}");
    }
}
