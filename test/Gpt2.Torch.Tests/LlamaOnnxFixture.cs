using Gpt2.Torch.Checkpoints;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// One of the Llama-family reference fixtures (Fixtures/families/NAME): its graph shape from config.json, its weights by
/// Hugging Face name as float32 (every shard, whatever its stored dtype), and the float64 reference's expected tensors.
/// </summary>
internal sealed class LlamaOnnxFixture : IDisposable
{
    private readonly Dictionary<string, Tensor> _weights = [];

    public LlamaOnnxFixture(string name)
    {
        Folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "families", name);
        ConfigJson = File.ReadAllText(Path.Combine(Folder, "config.json"));
        Shape = LlamaOnnxShape.FromConfigJson(ConfigJson);
        foreach (string path in Directory.GetFiles(Folder, "model*.safetensors"))
        {
            using SafetensorsFile file = SafetensorsFile.Open(path);
            foreach (string tensorName in file.Tensors.Keys)
            {
                using Tensor stored = file.ReadTensor(tensorName);
                _weights.Add(tensorName, stored.to(float32));
            }
        }
        Expected = SafetensorsFile.Open(Path.Combine(Folder, "expected.safetensors"));
    }

    public string Folder { get; }

    public string ConfigJson { get; }

    public LlamaOnnxShape Shape { get; }

    public SafetensorsFile Expected { get; }

    /// <summary>The weights by checkpoint name, as the exporters' <c>parameter</c> function.</summary>
    public Tensor Parameter(string name) =>
        _weights.TryGetValue(name, out Tensor? weight) ? weight : throw new KeyNotFoundException($"The fixture has no tensor '{name}'.");

    public long[] Ids(string name) => Expected.ReadTensor(name).data<long>().ToArray();

    public static InferenceSession Session(OnnxModel model)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        return new InferenceSession(model.ToArray(), options);
    }

    public void Dispose()
    {
        Expected.Dispose();
        foreach (Tensor weight in _weights.Values)
            weight.Dispose();
    }

    public static readonly string[] Names = ["tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-llama3"];
}

/// <summary>
/// A step decoder (<see cref="LlamaOnnxGraph.BuildStepDecoder"/>) driven by hand for one row: prefill, then one token per
/// step, each step's present keys and values fed back as the next step's past.
/// </summary>
internal sealed class StepDecoderRun : IDisposable
{
    private readonly InferenceSession _session;
    private readonly LlamaOnnxShape _shape;
    private OrtValue[] _pasts;

    public StepDecoderRun(InferenceSession session, LlamaOnnxShape shape)
    {
        _session = session;
        _shape = shape;
        _pasts = [.. Enumerable.Range(0, shape.Layers).Select(_ =>
            OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [2, 1, shape.KeyValueHeads, 0, shape.HeadDim]))];
    }

    /// <summary>Tokens read so far (the cache's length).</summary>
    public int Length { get; private set; }

    /// <summary>Reads <paramref name="tokens"/> after those cached; returns the logits after the last one [vocab].</summary>
    public float[] Read(IReadOnlyList<long> tokens)
    {
        int width = tokens.Count, total = Length + width;
        using OrtValue ids = OrtValue.CreateTensorValueFromMemory(tokens.Select(t => (int)t).ToArray(), [1, width]);
        using OrtValue positions = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(Length, width).ToArray(), [1, width]);
        using OrtValue mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1, total).ToArray(), [1, total]);
        string[] pastNames = [.. Enumerable.Range(0, _shape.Layers).Select(layer => $"past_{layer}")];
        string[] outputs = ["logits", .. Enumerable.Range(0, _shape.Layers).Select(layer => $"present_{layer}")];
        using var runOptions = new RunOptions();
        IDisposableReadOnlyCollection<OrtValue> results = _session.Run(runOptions, ["input_ids", "position_ids", "attention_mask", .. pastNames],
            [ids, positions, mask, .. _pasts], outputs);
        long[] logitShape = results[0].GetTensorTypeAndShape().Shape;
        CollectionAssert.AreEqual(new long[] { 1, 1, _shape.VocabSize }, logitShape, "logits at the last position only");
        float[] logits = results[0].GetTensorDataAsSpan<float>().ToArray();
        results[0].Dispose();
        foreach (OrtValue past in _pasts)
            past.Dispose();
        _pasts = [.. results.Skip(1)];
        Length = total;
        return logits;
    }

    public static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }

    public void Dispose()
    {
        foreach (OrtValue past in _pasts)
            past.Dispose();
    }
}
