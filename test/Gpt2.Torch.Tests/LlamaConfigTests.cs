using System.Text.Json.Nodes;
using Gpt2.Torch.Model;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// LlamaConfig: the published config.json files read as their presets, the presets' parameter counts against the published
/// totals, the round trip of every field, and the refusal, by name, of every field that asks for a computation LlamaModel
/// does not do.
/// </summary>
[TestClass]
public sealed class LlamaConfigTests
{
    // config.json of HuggingFaceTB/SmolLM2-135M on the Hugging Face Hub.
    private const string SmolLM2Json = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 0,
          "eos_token_id": 0,
          "hidden_act": "silu",
          "hidden_size": 576,
          "initializer_range": 0.041666666666666664,
          "intermediate_size": 1536,
          "is_llama_config": true,
          "max_position_embeddings": 8192,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 9,
          "num_hidden_layers": 30,
          "num_key_value_heads": 3,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_interleaved": false,
          "rope_scaling": null,
          "rope_theta": 100000,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "vocab_size": 49152
        }
        """;

    // config.json of Qwen/Qwen2.5-0.5B.
    private const string Qwen25Json = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_mrope": false,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    // config.json of Qwen/Qwen3-0.6B.
    private const string Qwen3Json = """
        {
          "architectures": ["Qwen3ForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151645,
          "head_dim": 128,
          "hidden_act": "silu",
          "hidden_size": 1024,
          "initializer_range": 0.02,
          "intermediate_size": 3072,
          "max_position_embeddings": 40960,
          "max_window_layers": 28,
          "model_type": "qwen3",
          "num_attention_heads": 16,
          "num_hidden_layers": 28,
          "num_key_value_heads": 8,
          "rms_norm_eps": 1e-06,
          "rope_scaling": null,
          "rope_theta": 1000000,
          "sliding_window": null,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.51.0",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    // config.json of meta-llama/Llama-3.2-1B.
    private const string Llama32Json = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 128000,
          "eos_token_id": 128001,
          "head_dim": 64,
          "hidden_act": "silu",
          "hidden_size": 2048,
          "initializer_range": 0.02,
          "intermediate_size": 8192,
          "max_position_embeddings": 131072,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 16,
          "num_key_value_heads": 8,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": {
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3"
          },
          "rope_theta": 500000.0,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.45.0.dev0",
          "use_cache": true,
          "vocab_size": 128256
        }
        """;

    private static string Published(string name) => name switch
    {
        "smollm2" => SmolLM2Json,
        "qwen2.5" => Qwen25Json,
        "qwen3" => Qwen3Json,
        _ => Llama32Json,
    };

    // Catches a preset that differs from the published config in any computing field, and a field misread (head_dim,
    // rope_scaling, the qwen2 defaults).
    [TestMethod]
    [DataRow("smollm2", "smollm2-135m")]
    [DataRow("qwen2.5", "qwen2.5-0.5b")]
    [DataRow("qwen3", "Qwen/Qwen3-0.6B")]
    [DataRow("llama", "meta-llama/Llama-3.2-1B")]
    public void PublishedConfigsReadAsTheirPresets(string published, string preset)
    {
        LlamaConfig config = LlamaConfig.FromJson(Published(published));

        Assert.AreEqual(LlamaConfig.FromPreset(preset), config with { ExtraFieldsJson = null });
        Assert.IsInstanceOfType<LlamaConfig>(LanguageModelConfig.FromJson(Published(published)), "model_type picks the family");
    }

    // The published totals (a tied head counted once), which the configs' shapes must give; the formula is checked
    // against built models below.
    [TestMethod]
    [DataRow("smollm2-135m", 134_515_008L)]
    [DataRow("smollm2-360m", 361_821_120L)]
    [DataRow("qwen2.5-0.5b", 494_032_768L)]
    [DataRow("qwen3-0.6b", 596_049_920L)]
    [DataRow("llama-3.2-1b", 1_235_814_400L)]
    [DataRow("smollm2-1.7b", 1_711_376_384L)]
    [DataRow("qwen2.5-1.5b", 1_543_714_304L)]
    [DataRow("qwen3-1.7b", 1_720_574_976L)]
    [DataRow("llama-3.2-3b", 3_212_749_824L)]
    public void PresetsHaveThePublishedParameterCounts(string preset, long parameters) =>
        Assert.AreEqual(parameters, LlamaConfig.FromPreset(preset).ParameterCount);

    // Catches a model whose layers differ from the config's count (a bias too many, a missing norm, an untied head
    // counted once): built for real, SmolLM2-135M has its published 134,515,008 parameters.
    [TestMethod]
    public void SmolLM2ModelHasThePublishedParameterCount()
    {
        using var model = new LlamaModel(LlamaConfig.FromPreset("HuggingFaceTB/SmolLM2-135M"), CPU);
        Assert.AreEqual(134_515_008L, model.ParameterCount);
        Assert.AreEqual(49152L * 576, model.TokenEmbedding.numel());
    }

    // Catches the count formula and the model disagreeing on any variant: biases (qwen2's q/k/v, attention_bias's four),
    // Qwen3's q/k norms with a head_dim that is not hidden / heads, grouped key/value heads, an untied head.
    [TestMethod]
    public void ParameterCountFollowsTheModelForEveryVariant()
    {
        var tiny = new LlamaConfig { VocabSize = 50, ContextLength = 16, EmbeddingSize = 24, HeadCount = 4, KeyValueHeads = 2, LayerCount = 2, MlpSize = 40 };
        LlamaConfig[] variants =
        [
            tiny,
            tiny with { TieWordEmbeddings = true },
            tiny with { AttentionBias = true },
            tiny with { ModelType = "qwen2", KeyValueHeads = 1 },
            tiny with { ModelType = "qwen3", HeadDimension = 10 },
            tiny with { ModelType = "qwen3", HeadDimension = 8, AttentionBias = true, TieWordEmbeddings = true },
        ];
        foreach (LlamaConfig config in variants)
        {
            using var model = new LlamaModel(config, CPU);
            Assert.AreEqual(config.ParameterCount, model.ParameterCount, config.ToString());
        }
    }

    // Catches modules named other than Hugging Face names them, which would make every checkpoint fail to load.
    [TestMethod]
    public void ParametersCarryHuggingFaceNames()
    {
        var config = new LlamaConfig { ModelType = "qwen3", VocabSize = 50, ContextLength = 16, EmbeddingSize = 24, HeadCount = 4, KeyValueHeads = 2, LayerCount = 1, MlpSize = 40, HeadDimension = 8 };
        using var qwen3 = new LlamaModel(config, CPU);
        CollectionAssert.AreEquivalent(
            new[]
            {
                "model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.layers.0.self_attn.q_proj.weight",
                "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
                "model.layers.0.self_attn.q_norm.weight", "model.layers.0.self_attn.k_norm.weight", "model.layers.0.post_attention_layernorm.weight",
                "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
                "model.norm.weight", "lm_head.weight",
            },
            qwen3.state_dict().Keys.ToArray());
        using var qwen2 = new LlamaModel(config with { ModelType = "qwen2", HeadDimension = null, TieWordEmbeddings = true }, CPU);
        string[] qwen2Names = [.. qwen2.state_dict().Keys];
        CollectionAssert.IsSubsetOf(new[] { "model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.k_proj.bias", "model.layers.0.self_attn.v_proj.bias" }, qwen2Names);
        Assert.IsFalse(qwen2Names.Contains("model.layers.0.self_attn.o_proj.bias") || qwen2Names.Contains("lm_head.weight"), string.Join(", ", qwen2Names));
        using var biased = new LlamaModel(config with { ModelType = "llama", HeadDimension = null, AttentionBias = true }, CPU);
        Assert.IsTrue(biased.state_dict().ContainsKey("model.layers.0.self_attn.o_proj.bias"), "attention_bias puts a bias on o_proj too");
    }

    // Catches fields lost or changed on the way through ToJson (the extras included: token ids, eos lists, unused sliding
    // window settings) and keys written unsorted.
    [TestMethod]
    [DataRow("smollm2")]
    [DataRow("qwen2.5")]
    [DataRow("qwen3")]
    [DataRow("llama")]
    [DataRow("tiny-llama3")]
    [DataRow("tiny-qwen2")]
    public void ConfigRoundTripsThroughToJson(string name)
    {
        string json = name.StartsWith("tiny-", StringComparison.Ordinal) ? File.ReadAllText(Path.Combine(LlamaFixture.Folder(name), "config.json")) : Published(name);
        LlamaConfig config = LlamaConfig.FromJson(json);

        string written = config.ToJson();

        Assert.AreEqual(config, LlamaConfig.FromJson(written));
        var keys = ((JsonObject)JsonNode.Parse(written)!).Select(field => field.Key).ToList();
        CollectionAssert.AreEqual(keys.Order(StringComparer.Ordinal).ToList(), keys, "keys are sorted");
        var original = (JsonObject)JsonNode.Parse(json)!;
        var back = (JsonObject)JsonNode.Parse(written)!;
        foreach ((string key, JsonNode? value) in original)
        {
            // Numbers may change form (1e-05 and 1E-05, 100000 and 100000.0), never value.
            bool same = value is JsonValue number && number.TryGetValue(out double a) && back[key] is JsonValue other && other.TryGetValue(out double b) ? a == b
                : JsonNode.DeepEquals(value, back[key]);
            Assert.IsTrue(same, $"{name}: '{key}' was {value?.ToJsonString()} and is written as {back[key]?.ToJsonString()}");
        }
    }

    // Catches a config written without head_dim or num_key_value_heads, which Hugging Face would then take as its own
    // defaults (Qwen3: head_dim 128; Qwen2: 32 key/value heads) rather than hidden / heads and the query heads; and
    // records that differ only in how a file spells the default.
    [TestMethod]
    public void ShapesLeftToTheirDefaultsAreWrittenOutAndRoundTrip()
    {
        var qwen3 = new LlamaConfig { ModelType = "qwen3", VocabSize = 50, ContextLength = 16, EmbeddingSize = 32, HeadCount = 4, LayerCount = 1, MlpSize = 40 };

        var written = (JsonObject)JsonNode.Parse(qwen3.ToJson())!;

        Assert.AreEqual(8, (int)written["head_dim"]!);
        Assert.AreEqual(4, (int)written["num_key_value_heads"]!);
        Assert.AreEqual(qwen3, LlamaConfig.FromJson(written.ToJsonString()));
        written.Remove("head_dim");
        Assert.AreEqual(128, LlamaConfig.FromJson(written.ToJsonString()).HeadSize, "Hugging Face's Qwen3 default");
    }

    // Catches the newer rope_parameters form (transformers 5) read differently from rope_theta and rope_scaling.
    [TestMethod]
    public void RopeParametersReadAsRopeThetaAndRopeScaling()
    {
        var root = (JsonObject)JsonNode.Parse(Llama32Json)!;
        root["rope_parameters"] = new JsonObject
        {
            ["rope_type"] = "llama3", ["rope_theta"] = 500000.0, ["factor"] = 32.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0,
            ["original_max_position_embeddings"] = 8192,
        };
        root.Remove("rope_theta");
        root.Remove("rope_scaling");

        Assert.AreEqual(LlamaConfig.FromJson(Llama32Json), LlamaConfig.FromJson(root.ToJsonString()));
        var qwen3 = (JsonObject)JsonNode.Parse(Qwen3Json)!;
        qwen3["rope_parameters"] = new JsonObject { ["rope_type"] = "default", ["rope_theta"] = 1000000 };
        qwen3.Remove("rope_theta");
        qwen3.Remove("rope_scaling");
        Assert.AreEqual(LlamaConfig.FromJson(Qwen3Json), LlamaConfig.FromJson(qwen3.ToJsonString()));
    }

    // Each field that changes the computation in a way LlamaModel does not reproduce must be refused by name, with its
    // value, rather than loaded as a model that computes something else.
    [TestMethod]
    [DataRow("llama", "rope_scaling", """{"rope_type": "linear", "factor": 2.0}""", "'linear'")]
    [DataRow("llama", "rope_scaling", """{"type": "dynamic", "factor": 2.0}""", "'dynamic'")]
    [DataRow("qwen3", "rope_scaling", """{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}""", "'yarn'")]
    [DataRow("llama", "rope_scaling", """{"rope_type": "longrope", "factor": 2.0}""", "'longrope'")]
    [DataRow("llama", "num_local_experts", "8", "8")]
    [DataRow("qwen2.5", "num_experts", "60", "60")]
    [DataRow("llama", "mlp_bias", "true", "true")]
    [DataRow("llama", "pretraining_tp", "2", "2")]
    [DataRow("llama", "quantization_config", """{"quant_method": "awq", "bits": 4}""", "awq")]
    [DataRow("qwen2.5", "attention_bias", "false", "false")]
    [DataRow("llama", "hidden_act", "\"gelu\"", "'gelu'")]
    [DataRow("qwen2.5", "use_mrope", "true", "true")]
    [DataRow("qwen3", "layer_types", """["full_attention", "linear_attention"]""", "linear_attention")]
    [DataRow("llama", "partial_rotary_factor", "0.5", "0.5")]
    public void FieldsThatChangeTheComputationAreRefusedByName(string published, string field, string value, string shown)
    {
        var root = (JsonObject)JsonNode.Parse(Published(published))!;
        root[field] = JsonNode.Parse(value);

        var error = Assert.ThrowsExactly<NotSupportedException>(() => LlamaConfig.FromJson(root.ToJsonString()));

        StringAssert.Contains(error.Message, $"'{field}'");
        StringAssert.Contains(error.Message, shown);
    }

    // Qwen2 and Qwen3 attend within a window on the layers from max_window_layers on when use_sliding_window is true:
    // refused by name when the window is shorter than the context, accepted when it spans it (as published).
    [TestMethod]
    [DataRow("qwen2.5")]
    [DataRow("qwen3")]
    public void SlidingWindowAttentionIsRefusedByName(string published)
    {
        var root = (JsonObject)JsonNode.Parse(Published(published))!;
        root["use_sliding_window"] = true;
        root["sliding_window"] = 4096;
        root["max_window_layers"] = 20;

        var error = Assert.ThrowsExactly<NotSupportedException>(() => LlamaConfig.FromJson(root.ToJsonString()));

        StringAssert.Contains(error.Message, "'use_sliding_window'");
        StringAssert.Contains(error.Message, "4096");
        root["max_window_layers"] = 28;   // no layer from 28 on: every layer attends fully
        LlamaConfig.FromJson(root.ToJsonString());
        root["max_window_layers"] = 20;
        root["sliding_window"] = root["max_position_embeddings"]!.DeepClone();
        LlamaConfig.FromJson(root.ToJsonString());
    }

    // The published configs carry these with values that change nothing; refusing them would refuse the real models.
    [TestMethod]
    [DataRow("qwen2.5", "use_sliding_window", "true")]     // with sliding_window 32768, the whole context
    [DataRow("llama", "pretraining_tp", "1")]
    [DataRow("llama", "mlp_bias", "false")]
    [DataRow("qwen3", "layer_types", """["full_attention", "full_attention"]""")]
    [DataRow("qwen2.5", "attention_bias", "true")]
    [DataRow("llama", "rope_scaling", """{"rope_type": "default"}""")]
    [DataRow("llama", "hidden_act", "\"swish\"")]
    public void FieldsWithValuesThatChangeNothingAreAccepted(string published, string field, string value)
    {
        var root = (JsonObject)JsonNode.Parse(Published(published))!;
        root[field] = JsonNode.Parse(value);
        LlamaConfig config = LlamaConfig.FromJson(root.ToJsonString());
        Assert.AreEqual(config, LlamaConfig.FromJson(config.ToJson()));
    }

    // Catches sizes that cannot form a model reaching the constructor.
    [TestMethod]
    public void SizesThatCannotFormAModelAreRefused()
    {
        var tiny = new LlamaConfig { VocabSize = 50, ContextLength = 16, EmbeddingSize = 24, HeadCount = 4, LayerCount = 1, MlpSize = 40 };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => (tiny with { KeyValueHeads = 3 }).Validate()).Message, "num_key_value_heads");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => (tiny with { EmbeddingSize = 26 }).Validate()).Message, "head_dim");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => (tiny with { HeadDimension = 7 }).Validate()).Message, "even");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => (tiny with { ModelType = "mistral" }).Validate()).Message, "mistral");
        Assert.ThrowsExactly<ArgumentException>(() => new LlamaModel(tiny with { RmsNormEpsilon = 0 }, CPU));
        Assert.ThrowsExactly<NotSupportedException>(() => LanguageModelConfig.FromJson("""{"model_type": "mistral"}"""));
    }

    [TestMethod]
    public void PresetsAnswerToShortNamesAndHuggingFaceIds()
    {
        Assert.AreEqual(9, LlamaConfig.PresetNames.Count);
        for (int i = 0; i < LlamaConfig.PresetNames.Count; i++)
        {
            Assert.AreEqual(LlamaConfig.FromPreset(LlamaConfig.PresetIds[i]), LlamaConfig.FromPreset(LlamaConfig.PresetNames[i]));
            Assert.AreEqual(LlamaConfig.FromPreset(LlamaConfig.PresetNames[i]), LlamaConfig.FromPreset(LlamaConfig.PresetNames[i].ToUpperInvariant()));
            LlamaConfig.FromPreset(LlamaConfig.PresetNames[i]).Validate();
        }
        CollectionAssert.Contains(LlamaConfig.PresetNames.ToList(), "smollm2-135m");
        Assert.AreEqual(LlamaConfig.FromPreset("qwen3-0.6b"), LanguageModelConfig.FromPreset("Qwen/Qwen3-0.6B"), "the family-neutral presets include the family's");
        CollectionAssert.IsSubsetOf(LlamaConfig.PresetNames.ToList(), LanguageModelConfig.PresetNames.ToList());
        Assert.IsInstanceOfType<Gpt2Config>(LanguageModelConfig.FromPreset("124M"));
        var error = Assert.ThrowsExactly<ArgumentException>(() => LlamaConfig.FromPreset("llama-7b"));
        StringAssert.Contains(error.Message, "qwen3-0.6b");
    }
}
