using Gpt2.Torch.Model;
using static Gpt2.Torch.Onnx.Gpt2OnnxNames;
using static TorchSharp.torch;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// <see cref="Gpt2Model"/> as ONNX nodes, with the semantics of <see cref="Gpt2Model.ComputeHiddenStates"/>:
/// positions count real tokens only, no query attends to padding (a padded query attends to itself), pre-LayerNorm
/// blocks with explicit MatMul/Softmax attention scaled by <see cref="Gpt2Config.AttentionScale"/> and the config's
/// activation (<see cref="Activation"/> refuses one it cannot write exactly), a final LayerNorm; as a decoder, past keys and values in
/// and present ones out. Weights are read through <c>parameter</c> by checkpoint name only when the model is written,
/// so the size is known from the config alone.
/// </summary>
internal sealed class Gpt2OnnxGraph
{
    /// <summary>GPT-2's graphs for the exporters and the ONNX Runtime engine (<see cref="Gpt2Config.OnnxExport"/>).</summary>
    public static OnnxFamilyExport Family { get; } = new Gpt2OnnxFamilyExport();

    private sealed class Gpt2OnnxFamilyExport : OnnxFamilyExport
    {
        public override OnnxModel Build(LanguageModelConfig config, Func<string, Tensor> parameter, Tensor? classifierWeight, Tensor? classifierBias,
            int? maxSequenceLength, OnnxWeightQuantization? quantization) =>
            Gpt2OnnxGraph.Build((Gpt2Config)config, parameter, classifierWeight, classifierBias, maxSequenceLength, quantization);

        public override OnnxModel BuildGreedySearch(LanguageModelConfig config, Func<string, Tensor> parameter, int maxNewTokens, int endOfTextId, int padTokenId,
            OnnxSampling? sampling, OnnxWeightQuantization? quantization) =>
            Gpt2OnnxGraph.BuildGreedySearch((Gpt2Config)config, parameter, maxNewTokens, endOfTextId, padTokenId, sampling, quantization);

        public override OnnxModel BuildStepDecoder(LanguageModelConfig config, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization) =>
            Gpt2OnnxGraph.BuildStepDecoder((Gpt2Config)config, parameter, quantization);

        public override void WriteGenAIFolder(LanguageModelConfig config, Func<string, Tensor> parameter, string folder, string? tokenizerFolder)
        {
            BuildDecoder((Gpt2Config)config, parameter).WriteTo(Path.Combine(folder, Gpt2OnnxExporter.GenAIModelFileName));
            GenAIConfig.Write((Gpt2Config)config, Path.Combine(folder, Gpt2OnnxExporter.GenAIConfigFileName), Gpt2OnnxExporter.GenAIModelFileName);
            Tokenization.Gpt2Tokenizer.WriteHuggingFaceFiles(folder);
            GenAIConfig.WriteTokenizerConfig((Gpt2Config)config, Path.Combine(folder, "tokenizer_config.json"));
            GenAIConfig.WriteTokenizerJson(Path.Combine(folder, "tokenizer.json"));
        }
    }

    /// <summary>ONNX operator set 20: the first with <c>Gelu</c> (LayerNormalization is 17).</summary>
    public const int Opset = 20;

    /// <summary>The domain of ONNX Runtime's contrib operators, <c>GreedySearch</c> among them.</summary>
    private const string MicrosoftDomain = "com.microsoft";

    private readonly OnnxGraph _graph;
    private readonly Gpt2Config _config;
    private readonly Func<string, Tensor> _parameter;
    private readonly OnnxWeightQuantization? _quantization;

    private Gpt2OnnxGraph(string name, Gpt2Config config, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization)
    {
        _graph = new OnnxGraph(name);
        _config = config;
        _parameter = parameter;
        _quantization = quantization;
    }

    /// <summary>
    /// The model with inputs <see cref="InputIds"/> and <see cref="AttentionMask"/>, and next-token logits, or, given a
    /// classification head's shape, class logits and probabilities at each row's last real token.
    /// </summary>
    /// <param name="config">The model's sizes.</param>
    /// <param name="parameter">The model's parameters by checkpoint name (<c>h.0.attn.c_attn.weight</c>), called when the model is written.</param>
    /// <param name="classifierWeight">The classification head's weight [classes, embedding]; null for next-token logits.</param>
    /// <param name="classifierBias">The classification head's bias [classes], if any.</param>
    /// <param name="maxSequenceLength">For a classifier, the most tokens a row keeps; see <see cref="Gpt2OnnxExportOptions.MaxSequenceLength"/>.</param>
    /// <param name="quantization">When set, the blocks' matrices and the output head are stored quantized for MatMulNBits.</param>
    public static OnnxModel Build(Gpt2Config config, Func<string, Tensor> parameter, Tensor? classifierWeight = null, Tensor? classifierBias = null,
        int? maxSequenceLength = null, OnnxWeightQuantization? quantization = null)
    {
        var gpt = new Gpt2OnnxGraph("gpt2", config, parameter, quantization);
        OnnxGraph g = gpt._graph;
        string ids = g.Input(InputIds, OnnxDataType.Int64, BatchDimension, SequenceDimension);
        string mask = g.Input(AttentionMask, OnnxDataType.Int64, BatchDimension, SequenceDimension);
        if (classifierWeight is not null)
            (ids, mask) = OnnxPadding.KeepRealColumns(g, ids, mask, maxSequenceLength);

        string real = g.Node("Cast", [mask], To(OnnxDataType.Bool));
        string keep = g.Node("Cast", [real], To(OnnxDataType.Int64));
        string positions = g.Node("Max", [g.Node("Sub", [g.Node("CumSum", [keep, g.Int64(1)]), g.Int64(1)]), g.Int64(0)]);
        string hidden = gpt.Transformer(ids, positions, OnnxPadding.AttentionBias(g, real, ids), pasts: null).Hidden;

        if (classifierWeight is null)
        {
            gpt.LanguageModelHead(hidden);
            return new OnnxModel(g, Opset);
        }

        long classes = classifierWeight.shape[0];
        string last = OnnxPadding.LastRealToken(g, hidden, keep);
        string logits = g.Node("MatMul", [last, g.Weight("classifier.weight", [config.EmbeddingSize, classes], classifierWeight.t)],
            output: classifierBias is null ? Logits : null);
        if (classifierBias is not null)
            logits = g.Node("Add", [logits, g.Weight("classifier.bias", [classes], () => classifierBias)], output: Logits);
        g.Output(logits, OnnxDataType.Float, BatchDimension, classes);
        g.Output(g.Node("Softmax", [logits], output: Probabilities, OnnxAttribute.Int("axis", -1)), OnnxDataType.Float, BatchDimension, classes);
        return new OnnxModel(g, Opset);
    }

    /// <summary>
    /// ONNX Runtime's <c>com.microsoft.GreedySearch</c> (or <c>Sampling</c>) over the model, as a text generator with fixed settings: inputs
    /// <see cref="InputIds"/> and <see cref="AttentionMask"/> (int64 [batch, sequence], left-padded with
    /// <paramref name="padTokenId"/>), output <see cref="GeneratedIds"/> (int32 [batch, generated]: each row's continuation,
    /// at most <paramref name="maxNewTokens"/> tokens; from a row's end of text on, the pad id, or the end-of-text id without one). Prompts keep their
    /// last context minus <paramref name="maxNewTokens"/> tokens. The decoder subgraph follows the operator's GPT-2 contract:
    /// inputs input_ids, position_ids, attention_mask (int32), past_0.. [2, batch, heads, past, head size]; outputs logits,
    /// present_0.. (float).
    /// </summary>
    /// <param name="config">The model's sizes.</param>
    /// <param name="parameter">The model's parameters by checkpoint name.</param>
    /// <param name="maxNewTokens">The most tokens generated per row.</param>
    /// <param name="endOfTextId">The token that ends a row, or -1.</param>
    /// <param name="padTokenId">The prompts' left padding and the filling of ended rows, or -1.</param>
    /// <param name="sampling">When set, ONNX Runtime's <c>com.microsoft.Sampling</c> with these settings replaces GreedySearch.</param>
    /// <param name="quantization">When set, the decoder's matrices and output head are stored quantized for MatMulNBits.</param>
    public static OnnxModel BuildGreedySearch(Gpt2Config config, Func<string, Tensor> parameter, int maxNewTokens, int endOfTextId, int padTokenId,
        OnnxSampling? sampling = null, OnnxWeightQuantization? quantization = null) =>
        SearchAround("gpt2_greedy_search", Decoder(config, parameter, quantization), config.ContextLength, maxNewTokens, endOfTextId, padTokenId, sampling);

    /// <summary>
    /// The generator of <see cref="BuildGreedySearch"/> around any family's <paramref name="decoder"/> that keeps the
    /// operator's GPT decoder contract (inputs input_ids, position_ids, attention_mask (int32), past_0.. [2, batch, cached
    /// heads, past, head size]; outputs logits [batch, sequence, vocab], present_0..).
    /// </summary>
    internal static OnnxModel SearchAround(string name, OnnxGraph decoder, int contextLength, int maxNewTokens, int endOfTextId, int padTokenId,
        OnnxSampling? sampling)
    {
        var search = new OnnxGraph(name);
        string ids = search.Input(InputIds, OnnxDataType.Int64, BatchDimension, SequenceDimension);
        string mask = search.Input(AttentionMask, OnnxDataType.Int64, BatchDimension, SequenceDimension);
        string longest = search.Node("ReduceMax", [search.Node("ReduceSum", [mask, search.Int64s(1)], OnnxAttribute.Int("keepdims", 0))],
            OnnxAttribute.Int("keepdims", 1));
        string kept = search.Node("Min", [longest, search.Int64s(contextLength - maxNewTokens)]);
        string prompt = search.Node("Cast", [search.Node("Slice", [ids, search.Node("Neg", [kept]), search.Int64s(long.MaxValue), search.Int64s(1)])],
            To(OnnxDataType.Int32));
        string maxLength = search.Node("Cast", [search.Node("Add", [kept, search.Int64s(maxNewTokens)])], To(OnnxDataType.Int32));
        OnnxAttribute[] attributes =
        [
            OnnxAttribute.Int("eos_token_id", endOfTextId), OnnxAttribute.Int("pad_token_id", padTokenId),
            OnnxAttribute.Int("model_type", 0), OnnxAttribute.Graph("decoder", decoder),
        ];
        string sequences = sampling is null
            ? search.Node("GreedySearch", [prompt, maxLength], ["sequences"], MicrosoftDomain, attributes)[0]
            // Inputs 2 to 7 (min_length ... presence_mask) are left out; input 8 is the seed.
            : search.Node("Sampling", [prompt, maxLength, "", "", "", "", "", "", RunSeed(search, sampling.Seed)],
                ["sequences"], MicrosoftDomain,
                [.. attributes, OnnxAttribute.Float("temperature", sampling.Temperature), OnnxAttribute.Float("top_p", sampling.TopP)])[0];
        string generated = search.Node("Slice", [sequences, kept, search.Int64s(long.MaxValue), search.Int64s(1)]);
        // ONNX Runtime writes the pad id in place of a row's end of text and leaves the rest of a finished batch unset:
        // from a row's first end of text or pad on, everything becomes the pad id.
        int fill = padTokenId >= 0 ? padTokenId : endOfTextId;
        string ended = search.Node("Cast", [search.Node("Or", [search.Node("Equal", [generated, search.Int32(endOfTextId)]),
            search.Node("Equal", [generated, search.Int32(fill)])])], To(OnnxDataType.Int32));
        string afterEnd = search.Node("Greater", [search.Node("CumSum", [ended, search.Int64(1)]), search.Int32(0)]);
        search.Node("Where", [afterEnd, search.Int32(fill), generated], output: GeneratedIds);
        search.Output(GeneratedIds, OnnxDataType.Int32, BatchDimension, "generated");
        return new OnnxModel(search, Opset, (MicrosoftDomain, 1));
    }

    /// <summary>
    /// The decoder alone, as a model of its own: GPT-2 with combined past keys and values, the contract of both ONNX Runtime's
    /// GreedySearch decoder subgraph and ONNX Runtime GenAI's <c>gpt2</c> model type (see <see cref="BuildGreedySearch"/>).
    /// </summary>
    public static OnnxModel BuildDecoder(Gpt2Config config, Func<string, Tensor> parameter) => new(Decoder(config, parameter, quantization: null), Opset);

    /// <summary>
    /// The decoder of <see cref="BuildDecoder"/> for step-by-step decoding with left-padded batches: logits only at the
    /// last position [batch, 1, vocab] (each row's next token), so a long prompt's prefill skips the output head at
    /// every other position; the matrices are quantized when <paramref name="quantization"/> is set.
    /// </summary>
    public static OnnxModel BuildStepDecoder(Gpt2Config config, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization) =>
        new(Decoder(config, parameter, quantization, lastPositionOnly: true), Opset, (MicrosoftDomain, 1));

    // ONNX Runtime's Sampling seeds a new generator on every run (with seed 0 when given none), so each run, and ML.NET
    // runs one row at a time, would draw the same tokens for the same prompt. RandomUniform keeps its generator across
    // runs, so it hands every run a new seed: the draws of a loaded model follow the distribution from row to row, and
    // with a seed the whole sequence of draws repeats in each newly loaded model.
    private static string RunSeed(OnnxGraph search, int? seed)
    {
        OnnxAttribute[] uniform = [OnnxAttribute.Ints("shape", 1), OnnxAttribute.Float("low", 0), OnnxAttribute.Float("high", 1),
            .. seed is int value ? new[] { OnnxAttribute.Float("seed", value) } : []];
        return search.Node("Cast", [search.Node("Mul", [search.Node("RandomUniform", [], uniform), search.Float(int.MaxValue / 2)])], To(OnnxDataType.Int32));
    }

    private static OnnxGraph Decoder(Gpt2Config config, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization, bool lastPositionOnly = false)
    {
        var decoder = new Gpt2OnnxGraph("gpt2_decoder", config, parameter, quantization);
        OnnxGraph d = decoder._graph;
        string ids = d.Input(InputIds, OnnxDataType.Int32, BatchDimension, SequenceDimension);
        string positions = d.Input("position_ids", OnnxDataType.Int32, BatchDimension, SequenceDimension);
        string mask = d.Input(AttentionMask, OnnxDataType.Int32, BatchDimension, "total_sequence");
        string[] pasts = [.. Enumerable.Range(0, config.LayerCount).Select(layer =>
            d.Input($"past_{layer}", OnnxDataType.Float, 2, BatchDimension, config.HeadCount, "past_sequence", config.HeadSize))];
        (string hidden, IReadOnlyList<string> presents) = decoder.Transformer(ids, positions, OnnxPadding.AttentionBias(d, d.Node("Cast", [mask], To(OnnxDataType.Bool)), ids), pasts);
        if (lastPositionOnly)
            hidden = d.Node("Slice", [hidden, d.Int64s(-1), d.Int64s(long.MaxValue), d.Int64s(1)]);
        decoder.LanguageModelHead(hidden);
        foreach (string present in presents)
            d.Output(present, OnnxDataType.Float, 2, BatchDimension, config.HeadCount, "total_sequence", config.HeadSize);
        return d;
    }

    // Next-token logits [batch, sequence, vocab] from the (tied or untied) output head, as the graph output Logits.
    private void LanguageModelHead(string hidden)
    {
        OnnxGraph g = _graph;
        string headName = _config.TieWordEmbeddings ? "wte.weight" : "lm_head.weight";
        if (_quantization is not null)
        {
            // The embedding lookup keeps the float table; the head reads its own quantized copy, [vocab, embedding] as MatMulNBits takes it.
            g.Output(QuantizedMatMul("lm_head", hidden, () => _parameter(headName), _config.EmbeddingSize, _config.VocabSize, output: Logits),
                OnnxDataType.Float, BatchDimension, SequenceDimension, _config.VocabSize);
            return;
        }
        string head = _config.TieWordEmbeddings
            ? g.Node("Transpose", ["wte.weight"], OnnxAttribute.Ints("perm", 1, 0))
            : Weight("lm_head.weight", [_config.EmbeddingSize, _config.VocabSize], () => _parameter("lm_head.weight").t());
        g.Output(g.Node("MatMul", [hidden, head], output: Logits), OnnxDataType.Float, BatchDimension, SequenceDimension, _config.VocabSize);
    }

    // Token plus position embeddings, the blocks, the final LayerNorm: hidden states [batch, sequence, embedding];
    // with past keys and values (one input per layer), also each layer's present keys and values.
    private (string Hidden, IReadOnlyList<string> Presents) Transformer(string ids, string positions, string attentionBias, IReadOnlyList<string>? pasts)
    {
        OnnxGraph g = _graph;
        var presents = new List<string>();
        string tokens = g.Node("Gather", [Weight("wte.weight", [_config.VocabSize, _config.EmbeddingSize]), ids]);
        string x = g.Node("Add", [tokens, g.Node("Gather", [Weight("wpe.weight", [_config.ContextLength, _config.EmbeddingSize]), positions])]);
        for (int layer = 0; layer < _config.LayerCount; layer++)
        {
            string prefix = $"h.{layer}";
            (string attention, string? present) = Attention($"{prefix}.attn", layer, LayerNorm($"{prefix}.ln_1", x), attentionBias, pasts?[layer], $"present_{layer}");
            if (present is not null)
                presents.Add(present);
            x = g.Node("Add", [x, attention]);
            string mlp = Linear($"{prefix}.mlp.c_fc", LayerNorm($"{prefix}.ln_2", x), _config.EmbeddingSize, _config.ResolvedMlpSize, bias: true);
            mlp = Linear($"{prefix}.mlp.c_proj", Activation(mlp), _config.ResolvedMlpSize, _config.EmbeddingSize, bias: true);
            x = g.Node("Add", [x, mlp]);
        }
        return (LayerNorm("ln_f", x), presents);
    }

    // The MLP's activation as Hugging Face's ACT2FN computes it, for each name Gpt2Config accepts.
    private string Activation(string x)
    {
        OnnxGraph g = _graph;
        string Sigmoid(string input) => g.Node("Sigmoid", [input]);
        return _config.ActivationFunction switch
        {
            "gelu_new" or "gelu_pytorch_tanh" => g.Node("Gelu", [x], OnnxAttribute.String("approximate", "tanh")),
            "gelu" => g.Node("Gelu", [x]),
            // 0.5 x (1 + tanh(x 0.7978845608 (1 + 0.044715 x^2)))
            "gelu_fast" => g.Node("Mul", [g.Node("Mul", [x, g.Float(0.5f)]), g.Node("Add", [g.Float(1), g.Node("Tanh", [g.Node("Mul", [
                g.Node("Mul", [x, g.Float(0.7978845608f)]), g.Node("Add", [g.Float(1), g.Node("Mul", [g.Node("Mul", [x, x]), g.Float(0.044715f)])])])])])]),
            "quick_gelu" => g.Node("Mul", [x, Sigmoid(g.Node("Mul", [x, g.Float(1.702f)]))]),
            "relu" => g.Node("Relu", [x]),
            "silu" or "swish" => g.Node("Mul", [x, Sigmoid(x)]),
            "tanh" => g.Node("Tanh", [x]),
            string name => throw new NotSupportedException(
                $"The model's activation_function '{name}' has no ONNX form in this exporter, so the export would compute something else; it is not exported."),
        };
    }

    // Multi-head self-attention: one fused QKV projection, softmax(q k^T x scale + bias) v with the config's scale for this
    // layer, the output projection. Given past keys and values [2, batch, heads, past, head size], the new ones are appended
    // to them as `presentName`. Scores are float32, so reorder_and_upcast_attn changes nothing here.
    private (string Output, string? Present) Attention(string prefix, int layer, string x, string attentionBias, string? past, string presentName)
    {
        OnnxGraph g = _graph;
        int width = _config.EmbeddingSize, heads = _config.HeadCount, headSize = _config.HeadSize;
        string qkv = Linear($"{prefix}.c_attn", x, width, 3 * width, _config.QkvBias);
        // [batch, sequence, 3 x width] -> [3, batch, heads, sequence, head size]
        qkv = g.Node("Transpose", [g.Node("Reshape", [qkv, g.Int64s(0, 0, 3, heads, headSize)])], OnnxAttribute.Ints("perm", 2, 0, 3, 1, 4));
        string query = g.Node("Gather", [qkv, g.Int64(0)]);
        string? present = past is null ? null
            : g.Node("Concat", [past, g.Node("Slice", [qkv, g.Int64s(1), g.Int64s(3), g.Int64s(0)])], output: presentName, OnnxAttribute.Int("axis", 3));
        (string keysAndValues, long first) = present is null ? (qkv, 1L) : (present, 0L);
        string key = g.Node("Gather", [keysAndValues, g.Int64(first)]);
        string value = g.Node("Gather", [keysAndValues, g.Int64(first + 1)]);

        string scores = g.Node("MatMul", [query, g.Node("Transpose", [key], OnnxAttribute.Ints("perm", 0, 1, 3, 2))]);
        scores = g.Node("Add", [g.Node("Mul", [scores, g.Float((float)_config.AttentionScale(layer))]), attentionBias]);
        string y = g.Node("MatMul", [g.Node("Softmax", [scores], OnnxAttribute.Int("axis", -1)), value]);
        // [batch, heads, sequence, head size] -> [batch, sequence, width]
        y = g.Node("Reshape", [g.Node("Transpose", [y], OnnxAttribute.Ints("perm", 0, 2, 1, 3)), g.Int64s(0, 0, width)]);
        return (Linear($"{prefix}.c_proj", y, width, width, bias: true), present);
    }

    private string LayerNorm(string prefix, string x) =>
        _graph.Node("LayerNormalization",
            [x, Weight($"{prefix}.weight", [_config.EmbeddingSize]), Weight($"{prefix}.bias", [_config.EmbeddingSize])],
            OnnxAttribute.Int("axis", -1), OnnxAttribute.Float("epsilon", (float)_config.LayerNormEpsilon));

    private string Linear(string prefix, string x, int inFeatures, int outFeatures, bool bias) =>
        OnnxLinear.Linear(_graph, _parameter, _quantization, prefix, x, inFeatures, outFeatures, bias);

    private string QuantizedMatMul(string prefix, string x, Func<Tensor> weight, int inFeatures, int outFeatures, string? output = null) =>
        OnnxLinear.QuantizedMatMul(_graph, _quantization!, prefix, x, weight, inFeatures, outFeatures, output);

    private string Weight(string name, long[] shape, Func<Tensor>? values = null) =>
        _graph.Weight(name, shape, values ?? (() => _parameter(name)));

    private static OnnxAttribute To(OnnxDataType type) => OnnxAttribute.Int("to", (int)type);
}
