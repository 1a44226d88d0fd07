using System.Runtime.InteropServices;
using Gpt2.Torch.Data;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class Gpt2ModelTests
{
    private static readonly Gpt2Config Tiny = new()
    {
        VocabSize = 97, ContextLength = 24, EmbeddingSize = 32, HeadCount = 4, LayerCount = 2, Dropout = 0.0,
    };

    [TestMethod]
    public void ThePublished124MModelHas124439808Parameters()
    {
        using var model = new Gpt2Model(Gpt2Config.Gpt2Small, CPU);
        Assert.AreEqual(124_439_808L, model.ParameterCount);
    }

    [TestMethod]
    public void TheBooksConfigWithoutQkvBiasAndUntiedHeadHas163009536Parameters()
    {
        using var model = new Gpt2Model(Gpt2Config.Book124M, CPU);
        Assert.AreEqual(163_009_536L, model.ParameterCount);
    }

    [TestMethod]
    public void SubmoduleNamesAreHuggingFaceCheckpointNames()
    {
        using var model = new Gpt2Model(Tiny with { TieWordEmbeddings = false }, CPU);
        string[] names = [.. model.state_dict().Keys];
        CollectionAssert.IsSubsetOf(
            new[] { "wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias", "h.0.attn.c_proj.weight",
                    "h.1.ln_2.bias", "h.1.mlp.c_fc.weight", "h.1.mlp.c_proj.bias", "ln_f.weight", "ln_f.bias", "lm_head.weight" },
            names);
        Assert.AreEqual(2 + 2 * 12 + 2 + 1, names.Length);
    }

    [TestMethod]
    public void ThePresetsHaveThePublishedSizes()
    {
        Assert.AreEqual((1024, 24, 16), (Gpt2Config.FromPreset("355M").EmbeddingSize, Gpt2Config.FromPreset("355M").LayerCount, Gpt2Config.FromPreset("gpt2-medium").HeadCount));
        Assert.AreEqual((1280, 36, 20), (Gpt2Config.FromPreset("774M").EmbeddingSize, Gpt2Config.FromPreset("774M").LayerCount, Gpt2Config.FromPreset("774M").HeadCount));
        Assert.AreEqual((1600, 48, 25), (Gpt2Config.FromPreset("1558M").EmbeddingSize, Gpt2Config.FromPreset("gpt2-xl").LayerCount, Gpt2Config.FromPreset("1558M").HeadCount));
        Assert.ThrowsExactly<ArgumentException>(() => Gpt2Config.FromPreset("7B"));
    }

    [TestMethod]
    public void ConfigJsonRoundTrips()
    {
        Gpt2Config config = Tiny with { QkvBias = false, TieWordEmbeddings = false, MlpSize = 100, LayerNormEpsilon = 1e-6 };
        Assert.AreEqual(config, Gpt2Config.FromJson(config.ToJson()));
        Gpt2Config everything = config with
        {
            ActivationFunction = "quick_gelu", ScaleAttentionWeights = false, ScaleAttentionByInverseLayerIndex = true, ReorderAndUpcastAttention = true,
            Dropout = 0.1, EmbeddingDropout = 0.2, AttentionDropout = 0.3, ExtraFieldsJson = """{"bos_token_id":1,"summary_type":"cls_index"}""",
        };
        Assert.AreEqual(everything, Gpt2Config.FromJson(everything.ToJson()));
    }

    [TestMethod]
    public void IncrementalDecodingWithTheCacheGivesTheFullPassLogits()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        random.manual_seed(1);
        using var model = new Gpt2Model(Tiny, CPU);
        model.eval();
        Tensor ids = randint(0, Tiny.VocabSize, [2, 20], dtype: int64);
        Tensor full = model.Forward(ids);

        using KeyValueCache cache = model.CreateCache(batchSize: 2);
        var pieces = new List<Tensor> { model.Forward(ids.narrow(1, 0, 7), cache) };   // the prompt
        pieces.Add(model.Forward(ids.narrow(1, 7, 3), cache));                          // a chunk after a prompt
        for (int t = 10; t < 20; t++)
            pieces.Add(model.Forward(ids.narrow(1, t, 1), cache));                      // one token at a time
        Tensor incremental = cat(pieces, 1);

        Assert.AreEqual(20L, cache.Length);
        Assert.IsTrue(incremental.allclose(full, rtol: 1e-4, atol: 1e-5),
            $"cached logits differ by up to {(incremental - full).abs().max().item<float>()}");
    }

    [TestMethod]
    public void ALeftPaddedRowGivesTheSameLogitsAsOnItsOwn()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        random.manual_seed(2);
        using var model = new Gpt2Model(Tiny, CPU);
        model.eval();
        Tensor shortRow = randint(0, Tiny.VocabSize, [1, 5], dtype: int64);
        Tensor longRow = randint(0, Tiny.VocabSize, [1, 9], dtype: int64);
        Tensor batch = cat([cat([zeros(1, 4, dtype: int64), shortRow], 1), longRow], 0);
        Tensor mask = cat([cat([zeros(1, 4, dtype: int64), ones(1, 5, dtype: int64)], 1), ones(1, 9, dtype: int64)], 0);

        Tensor batched = model.Forward(batch, attentionMask: mask);

        Assert.IsTrue(batched[0].narrow(0, 4, 5).allclose(model.Forward(shortRow)[0], rtol: 1e-4, atol: 1e-5));
        Assert.IsTrue(batched[1].allclose(model.Forward(longRow)[0], rtol: 1e-4, atol: 1e-5));
        Assert.IsFalse(batched.isnan().any().item<bool>());
    }

    [TestMethod]
    public void The124MPresetRunsAFullContextBatchOnCpu()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = new Gpt2Model(Gpt2Config.Gpt2Small, CPU);
        model.eval();
        Tensor logits = model.Forward(randint(0, 50257, [2, 1024], dtype: int64));
        CollectionAssert.AreEqual(new long[] { 2, 1024, 50257 }, logits.shape);
        Assert.IsTrue(logits.isfinite().all().item<bool>());
    }

    [TestMethod]
    public void TokenIdsOutsideTheVocabularyAreRejectedWhereTheyEnterNamingTheIdAndTheVocabularySize()
    {
        using var model = new Gpt2Model(Tiny, CPU);
        var generator = new Gpt2Generator(model);
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => generator.Generate([1, 97], new GenerationOptions { MaxNewTokens = 1 }));
        StringAssert.Contains(error.Message, "Token id 97 at position 1 of the prompt");
        StringAssert.Contains(error.Message, "vocabulary size 97");
        error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => generator.GenerateBatch([[1, 2], [-1]], new GenerationOptions { MaxNewTokens = 1 }));
        StringAssert.Contains(error.Message, "Token id -1 at position 0 of prompt 1");

        int[] tokens = [.. Enumerable.Range(0, 40).Select(i => i == 21 ? 120 : i % 97)];
        var batches = new NextTokenBatches(new NextTokenWindows(tokens, 8, 8), 2, vocabularySize: Tiny.VocabSize);
        error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => batches.Batches().ToList());
        StringAssert.Contains(error.Message, "Token id 120 at position 5 of window 2's input");
        StringAssert.Contains(error.Message, "vocabulary size 97");

        using var classifier = new Gpt2SequenceClassifier(model, 2);
        error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => classifier.PredictProbabilities([[1, 2], [3, 500]]));
        StringAssert.Contains(error.Message, "Token id 500 at position 1 of sequence 1");
        StringAssert.Contains(error.Message, "vocabulary size 97");
    }

    [TestMethod]
    public void ForwardReadsNoTokenIdBackToTheHost()
    {
        // The ids are checked where they enter; Forward leaves an out-of-range id to libtorch's embedding lookup, which
        // fails on its own on the CPU, rather than reading every batch's minimum and maximum back to the host.
        using var model = new Gpt2Model(Tiny, CPU);
        using var noGrad = no_grad();
        Assert.ThrowsExactly<ExternalException>(() => model.Forward(tensor(new long[] { 1, 97 }, int64).unsqueeze(0)));
    }

    [TestMethod]
    public void SequencesLongerThanTheContextAreRejected()
    {
        using var model = new Gpt2Model(Tiny, CPU);
        var error = Assert.ThrowsExactly<ArgumentException>(() => model.Forward(zeros(1, 25, dtype: int64)));
        StringAssert.Contains(error.Message, "context length of 24");

        using KeyValueCache cache = model.CreateCache(1);
        using (no_grad())
            model.Forward(zeros(1, 20, dtype: int64), cache);
        Assert.ThrowsExactly<ArgumentException>(() => model.Forward(zeros(1, 5, dtype: int64), cache));
    }

    [TestMethod]
    public void EmptyOrMisshapenInputIsRejected()
    {
        using var model = new Gpt2Model(Tiny, CPU);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.Forward(zeros(1, 0, dtype: int64))).Message, "no tokens");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.Forward(zeros(5, dtype: int64))).Message, "[batch, tokens]");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => model.Forward(zeros(1, 5, dtype: float32))).Message, "int64");
    }

    [TestMethod]
    public void AnInconsistentConfigIsRejected()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new Gpt2Model(Tiny with { HeadCount = 5 }, CPU)).Message, "multiple of HeadCount");
    }
}
