using Gpt2.Torch.Model;
using static Gpt2.Torch.Onnx.Gpt2OnnxNames;
using static Gpt2.Torch.Onnx.OnnxPadding;
using static TorchSharp.torch;

namespace Gpt2.Torch.Onnx;

/// <summary>
/// The Llama family (Llama 3.x, SmolLM2, Qwen2, Qwen3) as ONNX nodes, with the semantics of transformers'
/// <c>modeling_llama.py</c>, <c>modeling_qwen2.py</c> and <c>modeling_qwen3.py</c> and the padding rules of
/// <see cref="Gpt2OnnxGraph"/> (positions count real tokens only, no query attends to padding): RMSNorm before attention and
/// MLP, rotate-half RoPE from cos/sin tables computed at export (llama3 frequency scaling included) and gathered by
/// position, grouped-query attention without copying the key/value heads (each key/value head's queries are stacked
/// along the query axis), optional q/k/v and o biases, qwen3's per-head q/k RMSNorm before RoPE, the SwiGLU MLP, a final
/// RMSNorm and a tied or untied head. Weights are read through <c>parameter</c> by Hugging Face checkpoint name
/// (<c>model.layers.0.self_attn.q_proj.weight</c>) only when the model is written.
/// </summary>
internal sealed class LlamaOnnxGraph
{
    /// <summary>The family's graphs for the exporters and the ONNX Runtime engine, given how a config maps to the graph's shape.</summary>
    public static OnnxFamilyExport Family(Func<LanguageModelConfig, LlamaOnnxShape> shapeOf) => new LlamaOnnxFamilyExport(shapeOf);

    private sealed class LlamaOnnxFamilyExport(Func<LanguageModelConfig, LlamaOnnxShape> shapeOf) : OnnxFamilyExport
    {
        public override OnnxModel Build(LanguageModelConfig config, Func<string, Tensor> parameter, Tensor? classifierWeight, Tensor? classifierBias,
            int? maxSequenceLength, OnnxWeightQuantization? quantization) =>
            LlamaOnnxGraph.Build(shapeOf(config), parameter, classifierWeight, classifierBias, maxSequenceLength, quantization);

        public override OnnxModel BuildGreedySearch(LanguageModelConfig config, Func<string, Tensor> parameter, int maxNewTokens, int endOfTextId, int padTokenId,
            OnnxSampling? sampling, OnnxWeightQuantization? quantization) =>
            LlamaOnnxGraph.BuildGreedySearch(shapeOf(config), parameter, maxNewTokens, endOfTextId, padTokenId, sampling, quantization);

        public override OnnxModel BuildStepDecoder(LanguageModelConfig config, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization) =>
            LlamaOnnxGraph.BuildStepDecoder(shapeOf(config), parameter, quantization);

        public override void WriteGenAIFolder(LanguageModelConfig config, Func<string, Tensor> parameter, string folder, string? tokenizerFolder) =>
            LlamaOnnxGraph.WriteGenAIFolder(shapeOf(config), parameter, folder, LlamaGenAIConfig.TokenIds.From(config.ToJson()), tokenizerFolder);
    }

    /// <summary>The ONNX operator set the graphs import (as <see cref="Gpt2OnnxGraph.Opset"/>).</summary>
    public const int Opset = Gpt2OnnxGraph.Opset;

    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>How a decoder takes and returns its keys and values.</summary>
    private enum CacheLayout
    {
        /// <summary>No cache: one full pass.</summary>
        None,

        /// <summary><c>past_N</c> in and <c>present_N</c> out, keys and values stacked [2, batch, key/value heads, positions, head size] (the ONNX Runtime engine and GreedySearch).</summary>
        Combined,

        /// <summary><c>past_key_values.N.key</c>/<c>.value</c> in and <c>present.N.key</c>/<c>.value</c> out, each [batch, key/value heads, positions, head size] (ONNX Runtime GenAI's llama, qwen2, qwen3).</summary>
        Separate,
    }

    private readonly OnnxGraph _graph;
    private readonly LlamaOnnxShape _shape;
    private readonly Func<string, Tensor> _parameter;
    private readonly OnnxWeightQuantization? _quantization;

    private LlamaOnnxGraph(string name, LlamaOnnxShape shape, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization)
    {
        _graph = new OnnxGraph(name);
        _shape = shape;
        _parameter = parameter;
        _quantization = quantization;
    }

    /// <summary>
    /// The model with inputs <see cref="InputIds"/> and <see cref="AttentionMask"/> (int64 [batch, sequence]) and next-token
    /// logits [batch, sequence, vocab], or, given a classification head, class logits and probabilities at each row's last
    /// real token; the contract of <see cref="Gpt2OnnxGraph.Build"/>.
    /// </summary>
    public static OnnxModel Build(LlamaOnnxShape shape, Func<string, Tensor> parameter, Tensor? classifierWeight = null, Tensor? classifierBias = null,
        int? maxSequenceLength = null, OnnxWeightQuantization? quantization = null)
    {
        var llama = new LlamaOnnxGraph(shape.ModelType, shape, parameter, quantization);
        OnnxGraph g = llama._graph;
        string ids = g.Input(InputIds, OnnxDataType.Int64, BatchDimension, SequenceDimension);
        string mask = g.Input(AttentionMask, OnnxDataType.Int64, BatchDimension, SequenceDimension);
        if (classifierWeight is not null)
            (ids, mask) = KeepRealColumns(g, ids, mask, maxSequenceLength);

        string real = g.Node("Cast", [mask], To(OnnxDataType.Bool));
        string keep = g.Node("Cast", [real], To(OnnxDataType.Int64));
        string positions = g.Node("Max", [g.Node("Sub", [g.Node("CumSum", [keep, g.Int64(1)]), g.Int64(1)]), g.Int64(0)]);
        string hidden = llama.Transformer(ids, positions, AttentionBias(g, real, ids), CacheLayout.None).Hidden;

        if (classifierWeight is null)
        {
            llama.LanguageModelHead(hidden);
            return new OnnxModel(g, Opset, (MicrosoftDomain, 1));
        }

        long classes = classifierWeight.shape[0];
        string last = LastRealToken(g, hidden, keep);
        string logits = g.Node("MatMul", [last, g.Weight("classifier.weight", [shape.HiddenSize, classes], classifierWeight.t)],
            output: classifierBias is null ? Logits : null);
        if (classifierBias is not null)
            logits = g.Node("Add", [logits, g.Weight("classifier.bias", [classes], () => classifierBias)], output: Logits);
        g.Output(logits, OnnxDataType.Float, BatchDimension, classes);
        g.Output(g.Node("Softmax", [logits], output: Probabilities, OnnxAttribute.Int("axis", -1)), OnnxDataType.Float, BatchDimension, classes);
        return new OnnxModel(g, Opset, (MicrosoftDomain, 1));
    }

    /// <summary>
    /// The step decoder of the ONNX Runtime engine, the contract of <see cref="Gpt2OnnxGraph.BuildStepDecoder"/>: int32
    /// <see cref="InputIds"/> and <c>position_ids</c> [batch, sequence], int32 <see cref="AttentionMask"/> [batch, past +
    /// sequence], float <c>past_N</c> [2, batch, key/value heads, past, head size]; outputs <see cref="Logits"/> at the last
    /// position [batch, 1, vocab] and <c>present_N</c>. RoPE rotates each new key and query at its given position.
    /// </summary>
    public static OnnxModel BuildStepDecoder(LlamaOnnxShape shape, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization) =>
        new(Decoder(shape, parameter, quantization, CacheLayout.Combined, OnnxDataType.Int32, lastPositionOnly: true), Opset, (MicrosoftDomain, 1));

    /// <summary>
    /// ONNX Runtime's <c>com.microsoft.GreedySearch</c> (or <c>Sampling</c>) around the decoder, the contract of
    /// <see cref="Gpt2OnnxGraph.BuildGreedySearch"/>. The operator's GPT decoder contract (model_type 0) fits the family: it
    /// takes the number of cached heads from <c>past_0</c>'s declared shape (here the key/value heads) and feeds
    /// <c>position_ids</c>, by which the decoder rotates its queries and keys.
    /// </summary>
    public static OnnxModel BuildGreedySearch(LlamaOnnxShape shape, Func<string, Tensor> parameter, int maxNewTokens, int endOfTextId, int padTokenId,
        OnnxSampling? sampling = null, OnnxWeightQuantization? quantization = null) =>
        Gpt2OnnxGraph.SearchAround($"{shape.ModelType}_greedy_search", Decoder(shape, parameter, quantization, CacheLayout.Combined, OnnxDataType.Int32),
            shape.ContextLength, maxNewTokens, endOfTextId, padTokenId, sampling);

    /// <summary>
    /// The decoder ONNX Runtime GenAI runs for its <c>llama</c>, <c>qwen2</c> and <c>qwen3</c> model types: int64
    /// <see cref="InputIds"/>, <see cref="AttentionMask"/> and <c>position_ids</c>, <c>past_key_values.N.key</c>/<c>.value</c>
    /// in, <see cref="Logits"/> [batch, sequence, vocab] and <c>present.N.key</c>/<c>.value</c> out.
    /// </summary>
    public static OnnxModel BuildGenAIDecoder(LlamaOnnxShape shape, Func<string, Tensor> parameter) =>
        new(Decoder(shape, parameter, quantization: null, CacheLayout.Separate, OnnxDataType.Int64), Opset, (MicrosoftDomain, 1));

    /// <summary>
    /// Writes <see cref="BuildGenAIDecoder"/> as <c>model.onnx</c>, <c>genai_config.json</c> and, from
    /// <paramref name="tokenizerFolder"/> when given, the Hugging Face tokenizer files GenAI's tokenizer reads.
    /// </summary>
    public static void WriteGenAIFolder(LlamaOnnxShape shape, Func<string, Tensor> parameter, string folder, LlamaGenAIConfig.TokenIds tokenIds,
        string? tokenizerFolder)
    {
        BuildGenAIDecoder(shape, parameter).WriteTo(Path.Combine(folder, Gpt2OnnxExporter.GenAIModelFileName));
        LlamaGenAIConfig.Write(shape, tokenIds, Path.Combine(folder, Gpt2OnnxExporter.GenAIConfigFileName), Gpt2OnnxExporter.GenAIModelFileName);
        LlamaGenAIConfig.CopyTokenizerFiles(tokenizerFolder, folder);
    }

    private static OnnxGraph Decoder(LlamaOnnxShape shape, Func<string, Tensor> parameter, OnnxWeightQuantization? quantization, CacheLayout layout,
        OnnxDataType indexType, bool lastPositionOnly = false)
    {
        var decoder = new LlamaOnnxGraph($"{shape.ModelType}_decoder", shape, parameter, quantization);
        OnnxGraph d = decoder._graph;
        string ids = d.Input(InputIds, indexType, BatchDimension, SequenceDimension);
        // GreedySearch reads its decoder's inputs by position: ids, positions, mask, then the pasts (GenAI reads them by name).
        string positions = d.Input("position_ids", indexType, BatchDimension, SequenceDimension);
        string mask = d.Input(AttentionMask, indexType, BatchDimension, "total_sequence");
        (string hidden, IReadOnlyList<(string Name, OnnxDimension[] Shape)> presents) =
            decoder.Transformer(ids, positions, AttentionBias(d, d.Node("Cast", [mask], To(OnnxDataType.Bool)), ids), layout);
        if (lastPositionOnly)
            hidden = d.Node("Slice", [hidden, d.Int64s(-1), d.Int64s(long.MaxValue), d.Int64s(1)]);
        decoder.LanguageModelHead(hidden);
        foreach ((string name, OnnxDimension[] dimensions) in presents)
            d.Output(name, OnnxDataType.Float, dimensions);
        return d;
    }

    // The embedding, the blocks and the final RMSNorm: hidden states [batch, sequence, hidden]; with a cache layout, the
    // cache inputs are declared here (layer by layer) and each layer's present keys and values are returned with their shapes.
    private (string Hidden, IReadOnlyList<(string Name, OnnxDimension[] Shape)> Presents) Transformer(string ids, string positions, string attentionBias,
        CacheLayout layout)
    {
        OnnxGraph g = _graph;
        LlamaOnnxShape s = _shape;
        var presents = new List<(string, OnnxDimension[])>();
        (string cos, string sin) = RotaryTables(positions);
        string x = g.Node("Gather", [Weight("model.embed_tokens.weight", [s.VocabSize, s.HiddenSize]), ids]);
        for (int layer = 0; layer < s.Layers; layer++)
        {
            string prefix = $"model.layers.{layer}";
            string attention = Attention($"{prefix}.self_attn", layer, RmsNorm($"{prefix}.input_layernorm", x, s.HiddenSize), cos, sin, attentionBias,
                layout, presents);
            x = g.Node("Add", [x, attention]);
            x = g.Node("Add", [x, Mlp($"{prefix}.mlp", RmsNorm($"{prefix}.post_attention_layernorm", x, s.HiddenSize))]);
        }
        return (RmsNorm("model.norm", x, s.HiddenSize), presents);
    }

    // cos and sin of each position's angles [batch, 1, sequence, head size / 2], gathered from tables [context, head size / 2]
    // computed in float64 at export (HF's cat(freqs, freqs) repeats these halves, so the tables keep one).
    private (string Cos, string Sin) RotaryTables(string positions)
    {
        OnnxGraph g = _graph;
        int half = _shape.HeadDim / 2, context = _shape.ContextLength;
        double[] inverseFrequencies = [.. Enumerable.Range(0, half).Select(i => 1 / Math.Pow(_shape.RopeTheta, 2.0 * i / _shape.HeadDim))];
        if (_shape.RopeScaling is LlamaRopeScaling scaling)
            inverseFrequencies = scaling.Scale(inverseFrequencies);
        Tensor Table(Func<double, double> function)
        {
            var values = new float[context * half];
            for (int position = 0; position < context; position++)
                for (int i = 0; i < half; i++)
                    values[position * half + i] = (float)function(position * inverseFrequencies[i]);
            return tensor(values, [context, half]);
        }
        string Gathered(string name, Func<double, double> function) =>
            g.Node("Unsqueeze", [g.Node("Gather", [g.Weight(name, [context, half], () => Table(function)), positions]), g.Int64s(1)]);
        return (Gathered("rotary.cos", Math.Cos), Gathered("rotary.sin", Math.Sin));
    }

    // Rotate-half RoPE of x [batch, heads, sequence, head size]: the halves (x1, x2) become (x1 cos - x2 sin, x2 cos + x1 sin).
    private string Rotate(string x, string cos, string sin)
    {
        OnnxGraph g = _graph;
        int half = _shape.HeadDim / 2;
        IReadOnlyList<string> halves = g.Node("Split", [x, g.Int64s(half, half)], [g.NewName("first_half"), g.NewName("second_half")], domain: null,
            OnnxAttribute.Int("axis", -1));
        string first = g.Node("Sub", [g.Node("Mul", [halves[0], cos]), g.Node("Mul", [halves[1], sin])]);
        string second = g.Node("Add", [g.Node("Mul", [halves[1], cos]), g.Node("Mul", [halves[0], sin])]);
        return g.Node("Concat", [first, second], OnnxAttribute.Int("axis", -1));
    }

    // Grouped-query self-attention. Query head h reads key/value head h / (heads / kv heads) (repeat_kv), so the queries
    // [batch, heads, sequence, head size] are viewed as [batch, kv heads, group x sequence, head size] and multiplied with
    // the key/value heads as they are: the cache is never copied per query head.
    private string Attention(string prefix, int layer, string x, string cos, string sin, string attentionBias, CacheLayout layout,
        List<(string, OnnxDimension[])> presents)
    {
        OnnxGraph g = _graph;
        LlamaOnnxShape s = _shape;
        int heads = s.Heads, kvHeads = s.KeyValueHeads, headDim = s.HeadDim;
        string Heads(string projection, int count, string? norm)
        {
            // [batch, sequence, count x head size] -> [batch, sequence, count, head size] (-> per-head RMSNorm) -> [batch, count, sequence, head size]
            string y = g.Node("Reshape", [projection, g.Int64s(0, 0, count, headDim)]);
            if (norm is not null)
                y = RmsNorm(norm, y, headDim);
            return g.Node("Transpose", [y], OnnxAttribute.Ints("perm", 0, 2, 1, 3));
        }
        string query = Rotate(Heads(Linear($"{prefix}.q_proj", x, s.HiddenSize, heads * headDim, s.QkvBias), heads,
            s.QueryKeyNorm ? $"{prefix}.q_norm" : null), cos, sin);
        string key = Rotate(Heads(Linear($"{prefix}.k_proj", x, s.HiddenSize, kvHeads * headDim, s.QkvBias), kvHeads,
            s.QueryKeyNorm ? $"{prefix}.k_norm" : null), cos, sin);
        string value = Heads(Linear($"{prefix}.v_proj", x, s.HiddenSize, kvHeads * headDim, s.QkvBias), kvHeads, norm: null);

        switch (layout)
        {
            case CacheLayout.Combined:
            {
                OnnxDimension[] shape = [2, BatchDimension, kvHeads, "past_sequence", headDim];
                string past = g.Input($"past_{layer}", OnnxDataType.Float, shape);
                string current = g.Node("Concat", [g.Node("Unsqueeze", [key, g.Int64s(0)]), g.Node("Unsqueeze", [value, g.Int64s(0)])],
                    OnnxAttribute.Int("axis", 0));
                string present = g.Node("Concat", [past, current], output: $"present_{layer}", OnnxAttribute.Int("axis", 3));
                presents.Add((present, [2, BatchDimension, kvHeads, "total_sequence", headDim]));
                key = g.Node("Gather", [present, g.Int64(0)]);
                value = g.Node("Gather", [present, g.Int64(1)]);
                break;
            }
            case CacheLayout.Separate:
            {
                OnnxDimension[] shape = [BatchDimension, kvHeads, "past_sequence", headDim];
                string pastKey = g.Input($"past_key_values.{layer}.key", OnnxDataType.Float, shape);
                string pastValue = g.Input($"past_key_values.{layer}.value", OnnxDataType.Float, shape);
                key = g.Node("Concat", [pastKey, key], output: $"present.{layer}.key", OnnxAttribute.Int("axis", 2));
                value = g.Node("Concat", [pastValue, value], output: $"present.{layer}.value", OnnxAttribute.Int("axis", 2));
                OnnxDimension[] total = [BatchDimension, kvHeads, "total_sequence", headDim];
                presents.Add((key, total));
                presents.Add((value, total));
                break;
            }
        }

        // Reshape's 0 keeps that dimension of its input: [batch, kv heads, group x queries, keys] <-> [batch, heads, queries, keys].
        string grouped = g.Node("Reshape", [query, g.Int64s(0, kvHeads, -1, headDim)]);
        string scores = g.Node("MatMul", [grouped, g.Node("Transpose", [key], OnnxAttribute.Ints("perm", 0, 1, 3, 2))]);
        scores = g.Node("Mul", [g.Node("Reshape", [scores, g.Int64s(0, heads, -1, 0)]), g.Float((float)(1 / Math.Sqrt(headDim)))]);
        string weights = g.Node("Softmax", [g.Node("Add", [scores, attentionBias])], OnnxAttribute.Int("axis", -1));
        string y = g.Node("MatMul", [g.Node("Reshape", [weights, g.Int64s(0, kvHeads, -1, 0)]), value]);
        // [batch, kv heads, group x queries, head size] -> [batch, heads, queries, head size] -> [batch, queries, heads x head size]
        y = g.Node("Transpose", [g.Node("Reshape", [y, g.Int64s(0, heads, -1, 0)])], OnnxAttribute.Ints("perm", 0, 2, 1, 3));
        y = g.Node("Reshape", [y, g.Int64s(0, 0, heads * headDim)]);
        return Linear($"{prefix}.o_proj", y, heads * headDim, s.HiddenSize, s.OutputBias);
    }

    // SwiGLU: down(silu(gate(x)) * up(x)).
    private string Mlp(string prefix, string x)
    {
        OnnxGraph g = _graph;
        LlamaOnnxShape s = _shape;
        string gate = Linear($"{prefix}.gate_proj", x, s.HiddenSize, s.IntermediateSize, s.MlpBias);
        string up = Linear($"{prefix}.up_proj", x, s.HiddenSize, s.IntermediateSize, s.MlpBias);
        string activated = g.Node("Mul", [g.Node("Mul", [gate, g.Node("Sigmoid", [gate])]), up]);
        return Linear($"{prefix}.down_proj", activated, s.IntermediateSize, s.HiddenSize, s.MlpBias);
    }

    // RMSNorm over the last axis, x / sqrt(mean(x^2) + eps) * weight, in the node pattern ONNX Runtime fuses into SimplifiedLayerNormalization.
    private string RmsNorm(string prefix, string x, int size)
    {
        OnnxGraph g = _graph;
        string meanSquare = g.Node("ReduceMean", [g.Node("Pow", [x, g.Float(2)]), g.Int64s(-1)], OnnxAttribute.Int("keepdims", 1));
        string normalized = g.Node("Div", [x, g.Node("Sqrt", [g.Node("Add", [meanSquare, g.Float((float)_shape.RmsNormEps)])])]);
        return g.Node("Mul", [normalized, Weight($"{prefix}.weight", [size])]);
    }

    // Next-token logits [batch, sequence, vocab] from the (tied or untied) head, as the graph output Logits.
    private void LanguageModelHead(string hidden)
    {
        OnnxGraph g = _graph;
        LlamaOnnxShape s = _shape;
        string headName = s.TiedHead ? "model.embed_tokens.weight" : "lm_head.weight";
        string logits = _quantization is not null
            // The embedding lookup keeps the float table; the head reads its own quantized copy.
            ? QuantizedMatMul("lm_head", hidden, () => _parameter(headName), s.HiddenSize, s.VocabSize, output: Logits)
            : g.Node("MatMul", [hidden, s.TiedHead
                ? g.Node("Transpose", ["model.embed_tokens.weight"], OnnxAttribute.Ints("perm", 1, 0))
                : Weight("lm_head.weight", [s.HiddenSize, s.VocabSize], () => _parameter("lm_head.weight").t())], output: Logits);
        g.Output(logits, OnnxDataType.Float, BatchDimension, SequenceDimension, s.VocabSize);
    }

    // x W^T (+ b) with a Hugging Face Linear's [out, in] weight, stored [in, out] for MatMul or quantized for MatMulNBits.
    private string Linear(string prefix, string x, int inFeatures, int outFeatures, bool bias) =>
        OnnxLinear.Linear(_graph, _parameter, _quantization, prefix, x, inFeatures, outFeatures, bias);

    private string QuantizedMatMul(string prefix, string x, Func<Tensor> weight, int inFeatures, int outFeatures, string? output = null) =>
        OnnxLinear.QuantizedMatMul(_graph, _quantization!, prefix, x, weight, inFeatures, outFeatures, output);

    private string Weight(string name, long[] shape, Func<Tensor>? values = null) =>
        _graph.Weight(name, shape, values ?? (() => _parameter(name)));
}
