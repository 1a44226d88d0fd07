using TorchSharp;
using System.Text.Json.Nodes;
using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Hugging Face config.json: the published GPT-2 configs, every field that changes the computation against an independent
/// reference (fixtures/gpt2-config-variants), refusals of what the model does not compute, and the round trip of the rest.
/// </summary>
[TestClass]
public sealed class Gpt2ConfigTests : TemporaryDirectoryTest
{
    private const double Tolerance = 1e-4;

    // The config.json files of openai-community/gpt2, gpt2-medium, gpt2-large and gpt2-xl on the Hugging Face Hub.
    private const string Gpt2Json = """
        {
          "activation_function": "gelu_new",
          "architectures": [
            "GPT2LMHeadModel"
          ],
          "attn_pdrop": 0.1,
          "bos_token_id": 50256,
          "embd_pdrop": 0.1,
          "eos_token_id": 50256,
          "initializer_range": 0.02,
          "layer_norm_epsilon": 1e-05,
          "model_type": "gpt2",
          "n_ctx": 1024,
          "n_embd": 768,
          "n_head": 12,
          "n_layer": 12,
          "n_positions": 1024,
          "resid_pdrop": 0.1,
          "summary_activation": null,
          "summary_first_dropout": 0.1,
          "summary_proj_to_labels": true,
          "summary_type": "cls_index",
          "summary_use_proj": true,
          "task_specific_params": {
            "text-generation": {
              "do_sample": true,
              "max_length": 50
            }
          },
          "vocab_size": 50257
        }
        """;

    private const string Gpt2MediumJson = """
        {
          "activation_function": "gelu_new",
          "architectures": [
            "GPT2LMHeadModel"
          ],
          "attn_pdrop": 0.1,
          "bos_token_id": 50256,
          "embd_pdrop": 0.1,
          "eos_token_id": 50256,
          "initializer_range": 0.02,
          "layer_norm_epsilon": 1e-05,
          "model_type": "gpt2",
          "n_ctx": 1024,
          "n_embd": 1024,
          "n_head": 16,
          "n_layer": 24,
          "n_positions": 1024,
          "n_special": 0,
          "predict_special_tokens": true,
          "resid_pdrop": 0.1,
          "summary_activation": null,
          "summary_first_dropout": 0.1,
          "summary_proj_to_labels": true,
          "summary_type": "cls_index",
          "summary_use_proj": true,
          "task_specific_params": {
            "text-generation": {
              "do_sample": true,
              "max_length": 50
            }
          },
          "vocab_size": 50257
        }
        """;

    private const string Gpt2LargeJson = """
        {
          "activation_function": "gelu_new",
          "architectures": [
            "GPT2LMHeadModel"
          ],
          "attn_pdrop": 0.1,
          "bos_token_id": 50256,
          "embd_pdrop": 0.1,
          "eos_token_id": 50256,
          "initializer_range": 0.02,
          "layer_norm_epsilon": 1e-05,
          "model_type": "gpt2",
          "n_ctx": 1024,
          "n_embd": 1280,
          "n_head": 20,
          "n_layer": 36,
          "n_positions": 1024,
          "resid_pdrop": 0.1,
          "summary_activation": null,
          "summary_first_dropout": 0.1,
          "summary_proj_to_labels": true,
          "summary_type": "cls_index",
          "summary_use_proj": true,
          "task_specific_params": {
            "text-generation": {
              "do_sample": true,
              "max_length": 50
            }
          },
          "vocab_size": 50257
        }
        """;

    private const string Gpt2XLJson = """
        {
          "activation_function": "gelu_new",
          "architectures": [
            "GPT2LMHeadModel"
          ],
          "attn_pdrop": 0.1,
          "bos_token_id": 50256,
          "embd_pdrop": 0.1,
          "eos_token_id": 50256,
          "initializer_range": 0.02,
          "layer_norm_epsilon": 1e-05,
          "model_type": "gpt2",
          "n_ctx": 1024,
          "n_embd": 1600,
          "n_head": 25,
          "n_layer": 48,
          "n_positions": 1024,
          "output_past": true,
          "resid_pdrop": 0.1,
          "summary_activation": null,
          "summary_first_dropout": 0.1,
          "summary_proj_to_labels": true,
          "summary_type": "cls_index",
          "summary_use_proj": true,
          "task_specific_params": {
            "text-generation": {
              "do_sample": true,
              "max_length": 50
            }
          },
          "vocab_size": 50257
        }
        """;

    // Every field of Hugging Face's GPT2Config (as GPT2Config(...).save_pretrained writes it), most of them off their defaults.
    private const string EveryFieldJson = """
        {
          "_name_or_path": "someone/gpt2-variant",
          "activation_function": "quick_gelu",
          "add_cross_attention": false,
          "architectures": [
            "GPT2ForSequenceClassification"
          ],
          "attn_pdrop": 0.05,
          "bos_token_id": 7,
          "embd_pdrop": 0.2,
          "eos_token_id": 8,
          "id2label": {
            "0": "ham",
            "1": "spam"
          },
          "initializer_range": 0.01,
          "label2id": {
            "ham": 0,
            "spam": 1
          },
          "layer_norm_epsilon": 1e-06,
          "model_type": "gpt2",
          "n_embd": 96,
          "n_head": 3,
          "n_inner": 200,
          "n_layer": 5,
          "n_positions": 128,
          "pad_token_id": 9,
          "pruned_heads": {},
          "reorder_and_upcast_attn": true,
          "resid_pdrop": 0.15,
          "scale_attn_by_inverse_layer_idx": true,
          "scale_attn_weights": false,
          "summary_activation": "tanh",
          "summary_first_dropout": 0.3,
          "summary_proj_to_labels": false,
          "summary_type": "last",
          "summary_use_proj": false,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.46.3",
          "use_cache": false,
          "vocab_size": 321
        }
        """;

    [TestMethod]
    [DataRow("gpt2", Gpt2Json)]
    [DataRow("gpt2-medium", Gpt2MediumJson)]
    [DataRow("gpt2-large", Gpt2LargeJson)]
    [DataRow("gpt2-xl", Gpt2XLJson)]
    public void ThePublishedConfigsReadAsTheirPresetsAndSaveEveryFieldBack(string preset, string json)
    {
        Gpt2Config config = Gpt2Config.FromJson(json);

        Gpt2Config expected = Gpt2Config.FromPreset(preset);
        Assert.AreEqual((expected.EmbeddingSize, expected.HeadCount, expected.LayerCount), (config.EmbeddingSize, config.HeadCount, config.LayerCount));
        Assert.AreEqual((50257, 1024, 1e-5, "gelu_new"), (config.VocabSize, config.ContextLength, config.LayerNormEpsilon, config.ActivationFunction));
        Assert.AreEqual((0.1, 0.1, 0.1), (config.Dropout, config.ResolvedEmbeddingDropout, config.ResolvedAttentionDropout));
        Assert.AreEqual((true, false, false, null, true, true),
            (config.ScaleAttentionWeights, config.ScaleAttentionByInverseLayerIndex, config.ReorderAndUpcastAttention, config.MlpSize, config.TieWordEmbeddings, config.QkvBias));
        Assert.AreEqual(expected, config with { ExtraFieldsJson = null }, "the preset is the published config");
        StringAssert.Contains(config.ExtraFieldsJson, "\"summary_type\":\"cls_index\"");

        AssertSavedJsonKeeps(json, config.ToJson());
        Assert.AreEqual(config, Gpt2Config.FromJson(config.ToJson()));
    }

    [TestMethod]
    public void AConfigWithEveryFieldReadsEachOneAndSavesTheOthersBack()
    {
        Gpt2Config config = Gpt2Config.FromJson(EveryFieldJson);

        Assert.AreEqual((321, 128, 96, 3, 5, 200), (config.VocabSize, config.ContextLength, config.EmbeddingSize, config.HeadCount, config.LayerCount, config.MlpSize));
        Assert.AreEqual((0.15, 0.2, 0.05), (config.Dropout, config.EmbeddingDropout, config.AttentionDropout));
        Assert.AreEqual((1e-6, false, "quick_gelu"), (config.LayerNormEpsilon, config.TieWordEmbeddings, config.ActivationFunction));
        Assert.AreEqual((false, true, true), (config.ScaleAttentionWeights, config.ScaleAttentionByInverseLayerIndex, config.ReorderAndUpcastAttention));
        Assert.AreEqual(1.0 / 3, config.AttentionScale(2), 1e-15, "no 1/sqrt(head size), 1/(layer + 1)");
        JsonObject extras = JsonNode.Parse(config.ExtraFieldsJson!)!.AsObject();
        CollectionAssert.AreEquivalent(
            new[] { "_name_or_path", "add_cross_attention", "architectures", "bos_token_id", "eos_token_id", "id2label", "initializer_range", "label2id",
                    "pad_token_id", "pruned_heads", "summary_activation", "summary_first_dropout", "summary_proj_to_labels", "summary_type",
                    "summary_use_proj", "torch_dtype", "transformers_version", "use_cache" },
            extras.Select(field => field.Key).ToArray());

        AssertSavedJsonKeeps(EveryFieldJson, config.ToJson());
        Assert.AreEqual(config, Gpt2Config.FromJson(config.ToJson()));
        using var model = new Gpt2Model(config, CPU);
        Assert.AreEqual(200L, model.state_dict()["h.0.mlp.c_fc.weight"].shape[0], "n_inner is the MLP width");
    }

    [TestMethod]
    public void ACheckpointSavedAndLoadedKeepsTheFieldsItDoesNotModel()
    {
        Gpt2Config config = Gpt2Config.FromJson(EveryFieldJson) with { VocabSize = 50, EmbeddingSize = 12, MlpSize = 20, ContextLength = 16 };
        using var model = new Gpt2Model(config, CPU);
        Gpt2Checkpoint.Save(model, Directory);
        using var loaded = Gpt2Checkpoint.Load(Directory, CPU);

        Assert.AreEqual(config, loaded.Config);
        JsonObject saved = JsonNode.Parse(File.ReadAllText(Path.Combine(Directory, Gpt2Checkpoint.ConfigFileName)))!.AsObject();
        Assert.AreEqual("someone/gpt2-variant", saved["_name_or_path"]!.GetValue<string>());
        Assert.IsTrue(JsonNode.DeepEquals(JsonNode.Parse("""{"0": "ham", "1": "spam"}"""), saved["id2label"]));
        Assert.AreEqual(12, saved["n_embd"]!.GetValue<int>(), "the modelled fields are the config's, not the ones read");
    }

    [TestMethod]
    public void AlternativeFieldNamesAreReadAndContradictionsRefused()
    {
        Gpt2Config config = Gpt2Config.FromJson("""{"model_type": "gpt2", "hidden_size": 64, "num_attention_heads": 8, "num_hidden_layers": 3, "max_position_embeddings": 40}""");
        Assert.AreEqual((64, 8, 3, 40), (config.EmbeddingSize, config.HeadCount, config.LayerCount, config.ContextLength));
        Assert.IsNull(config.ExtraFieldsJson, "aliases are saved under GPT-2's own names");

        var error = Assert.ThrowsExactly<InvalidDataException>(() => Gpt2Config.FromJson("""{"n_embd": 768, "hidden_size": 1024}"""));
        StringAssert.Contains(error.Message, "'n_embd' to 768 but its alias 'hidden_size' to 1024");
    }

    [TestMethod]
    [DataRow("""{"model_type": "gpt_neo"}""", "'model_type' is 'gpt_neo'")]
    [DataRow("""{"activation_function": "mish"}""", "'activation_function') is 'mish'")]
    [DataRow("""{"activation_function": "gelu_10"}""", "'activation_function') is 'gelu_10'")]
    [DataRow("""{"add_cross_attention": true}""", "'add_cross_attention' is true: its blocks attend to an encoder's states")]
    [DataRow("""{"is_encoder_decoder": true}""", "'is_encoder_decoder' is true")]
    [DataRow("""{"pruned_heads": {"0": [1, 2]}}""", "'pruned_heads' is {\"0\":[1,2]}")]
    [DataRow("""{"quantization_config": {"quant_method": "gptq", "bits": 4}}""", "'quantization_config' is {\"quant_method\":\"gptq\",\"bits\":4}: its weights are quantized")]
    public void AConfigAskingForSomethingTheModelDoesNotComputeIsRefusedNamingTheField(string json, string expectedMessagePart)
    {
        var error = Assert.ThrowsExactly<NotSupportedException>(() => Gpt2Config.FromJson(json));
        StringAssert.Contains(error.Message, expectedMessagePart);

        File.WriteAllText(Path.Combine(Directory, Gpt2Checkpoint.ConfigFileName), json);
        File.Copy(Path.Combine(TestPaths.TinyGpt2, Gpt2Checkpoint.WeightsFileName), Path.Combine(Directory, Gpt2Checkpoint.WeightsFileName));
        var loadError = Assert.ThrowsExactly<CheckpointFormatException>(() => Gpt2Checkpoint.Load(Directory, CPU));
        StringAssert.Contains(loadError.Message, expectedMessagePart);
        StringAssert.Contains(loadError.Message, "cannot compute exactly");
    }

    [TestMethod]
    public void TheHarmlessValuesOfRefusedFieldsAreAccepted()
    {
        Gpt2Config config = Gpt2Config.FromJson("""{"add_cross_attention": false, "is_encoder_decoder": false, "pruned_heads": {}, "quantization_config": null}""");
        StringAssert.Contains(config.ExtraFieldsJson, "\"add_cross_attention\":false");
    }

    [TestMethod]
    [DataRow("""{"n_embd": "768"}""", "'n_embd' must be an integer, but is \"768\"")]
    [DataRow("""{"n_layer": 12.5}""", "'n_layer' must be an integer, but is 12.5")]
    [DataRow("""{"scale_attn_weights": "yes"}""", "'scale_attn_weights' must be true or false")]
    [DataRow("""{"resid_pdrop": "0.1"}""", "'resid_pdrop' must be a number")]
    [DataRow("""{"activation_function": 1}""", "'activation_function' must be a string")]
    [DataRow("[1, 2]", "must hold a JSON object")]
    public void AFieldOfTheWrongTypeIsRefusedNamingIt(string json, string expectedMessagePart) =>
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Gpt2Config.FromJson(json)).Message, expectedMessagePart);

    [TestMethod]
    public void ExtraFieldsCannotSmuggleInWhatTheModelDoesNotCompute()
    {
        StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() =>
            new Gpt2Model(new Gpt2Config { ExtraFieldsJson = """{"add_cross_attention":true}""" }, CPU)).Message, "add_cross_attention");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            new Gpt2Config { ExtraFieldsJson = """{"n_embd":16}""" }.Validate()).Message, "set its property instead");
    }

    [TestMethod]
    [DynamicData(nameof(Variants))]
    public void EachVariantsLogitsMatchTheReference(string variant)
    {
        using var model = ConfigVariantFixture.Load(variant, Directory);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor logits = model.Forward(tensor(ConfigVariantFixture.InputIds).unsqueeze(0)).squeeze(0);
        AssertClose(ConfigVariantFixture.Expected.ReadTensor($"logits.{variant}"), logits, variant);
    }

    [TestMethod]
    [DataRow("unscaled")]
    [DataRow("inverse_layer_idx")]
    [DataRow("unscaled_inverse_layer_idx")]
    [DataRow("reorder_and_upcast")]
    public void TheCachedPathScalesAttentionAsTheFullPass(string variant)
    {
        using var model = ConfigVariantFixture.Load(variant, Directory);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor ids = tensor(ConfigVariantFixture.InputIds).unsqueeze(0);
        using KeyValueCache cache = model.CreateCache(batchSize: 1);
        var pieces = new List<Tensor> { model.Forward(ids.narrow(1, 0, 5), cache) };
        for (int t = 5; t < ids.shape[1]; t++)
            pieces.Add(model.Forward(ids.narrow(1, t, 1), cache));
        AssertClose(ConfigVariantFixture.Expected.ReadTensor($"logits.{variant}"), cat(pieces, 1).squeeze(0), variant);
    }

    [TestMethod]
    [DataRow("unscaled")]
    [DataRow("inverse_layer_idx")]
    [DataRow("tanh")]
    public void GreedyGenerationFollowsTheReference(string variant)
    {
        using var model = ConfigVariantFixture.Load(variant, Directory);
        int[] prompt = ConfigVariantFixture.Tokens("greedy.prompt");
        int[] expected = ConfigVariantFixture.Tokens($"greedy.{variant}");
        int[] output = new Gpt2Generator(model).Generate(prompt, new GenerationOptions { MaxNewTokens = expected.Length - prompt.Length });
        CollectionAssert.AreEqual(expected, output);
    }

    [TestMethod]
    public void AHalfPrecisionModelWithUpcastAttentionFollowsTheFloat32Model()
    {
        // Layer 0's queries and keys scaled up 300 times give attention scores far beyond float16's largest value (65504);
        // with reorder_and_upcast_attn they are computed in float32. (libtorch's CPU attention kernel accumulates float16
        // scores in float32 by itself, so on a CPU this cannot tell the upcast from its absence; it checks that the
        // upcast path runs in float16; the logits come out in float32, as for every precision.)
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Gpt2Model Load(ScalarType dtype)
        {
            Gpt2Model model = ConfigVariantFixture.Load("reorder_and_upcast", Path.Combine(Directory, dtype.ToString()));
            Dictionary<string, Tensor> parameters = model.state_dict();
            parameters["h.0.attn.c_attn.weight"].mul_(300);
            parameters["h.0.attn.c_attn.bias"].mul_(300);
            model.to(dtype);
            return model;
        }
        Tensor ids = tensor(ConfigVariantFixture.InputIds).unsqueeze(0);
        using Gpt2Model reference = Load(float32), half = Load(float16);

        Tensor logits = half.Forward(ids);
        Assert.AreEqual(float16, half.TokenEmbedding.dtype);
        Assert.AreEqual(float32, logits.dtype);
        double error = (logits - reference.Forward(ids)).abs().max().item<float>();
        Assert.IsTrue(error < 0.1, $"the float16 model with float32 attention is off the float32 model by {error}");
    }

    [TestMethod]
    [DataRow(0.5, 0.0, 0.0)]
    [DataRow(0.0, 0.5, 0.0)]
    [DataRow(0.0, 0.0, 0.5)]
    public void EachDropoutRateAloneDropsInTrainingOnly(double residual, double embedding, double attention)
    {
        Gpt2Config config = Gpt2Config.FromJson($$"""
            {"vocab_size": 50, "n_positions": 8, "n_embd": 16, "n_head": 2, "n_layer": 1, "resid_pdrop": {{residual}}, "embd_pdrop": {{embedding}}, "attn_pdrop": {{attention}}}
            """);
        Assert.AreEqual((residual, embedding, attention), (config.Dropout, config.ResolvedEmbeddingDropout, config.ResolvedAttentionDropout));
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var model = new Gpt2Model(config, CPU);
        using var noDropout = new Gpt2Model(config with { Dropout = 0, EmbeddingDropout = 0, AttentionDropout = 0 }, CPU);
        noDropout.load_state_dict(model.state_dict());
        Tensor ids = tensor(new long[] { 1, 2, 3, 4, 5, 6, 7, 8 }).unsqueeze(0);
        model.train();
        noDropout.train();
        Tensor reference = noDropout.Forward(ids);

        Assert.IsFalse(model.Forward(ids).allclose(reference), "the rate drops something in training");
        model.eval();
        Assert.IsTrue(model.Forward(ids).allclose(reference), "nothing is dropped in evaluation");
        StringAssert.Contains(config.ToJson(), $"\"attn_pdrop\": {attention}");
    }

    public static IEnumerable<object[]> Variants => ConfigVariantFixture.Names.Select(name => new object[] { name });

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        double maxError = (actual - expected).abs().max().item<float>();
        Assert.IsTrue(maxError < Tolerance, $"{what}: logits differ from the reference by up to {maxError}.");
    }

    // Every field of the original config.json is in the saved one with the same value.
    private static void AssertSavedJsonKeeps(string originalJson, string savedJson)
    {
        JsonObject original = JsonNode.Parse(originalJson)!.AsObject(), saved = JsonNode.Parse(savedJson)!.AsObject();
        foreach ((string key, JsonNode? value) in original)
        {
            Assert.IsTrue(saved.ContainsKey(key), $"'{key}' is not saved");
            Assert.IsTrue(JsonNode.DeepEquals(value, saved[key]), $"'{key}' was {value?.ToJsonString()} and is saved as {saved[key]?.ToJsonString()}");
        }
    }
}
