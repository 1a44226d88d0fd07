using Microsoft.ML.OnnxRuntime;

namespace Gpt2.Torch.Tests;

/// <summary>An ONNX Runtime CPU session over an exported file, with full graph optimisation, fed [batch, sequence] int64 inputs.</summary>
internal sealed class OnnxSession : IDisposable
{
    private readonly InferenceSession _session;

    public OnnxSession(string path)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(path, options);
    }

    public InferenceSession Session => _session;

    /// <summary>Runs the model on <paramref name="inputs"/> (name to [batch, sequence] values); returns each requested output's values and shape.</summary>
    public Dictionary<string, (float[] Values, long[] Shape)> Run(IReadOnlyDictionary<string, long[,]> inputs, params string[] outputs)
    {
        var values = inputs.ToDictionary(
            input => input.Key,
            input => OrtValue.CreateTensorValueFromMemory(input.Value.Cast<long>().ToArray(), [input.Value.GetLength(0), input.Value.GetLength(1)]));
        try
        {
            using var runOptions = new RunOptions();
            using IDisposableReadOnlyCollection<OrtValue> results = _session.Run(runOptions, values, outputs);
            return outputs.Zip(results).ToDictionary(
                pair => pair.First,
                pair => (pair.Second.GetTensorDataAsSpan<float>().ToArray(), pair.Second.GetTensorTypeAndShape().Shape));
        }
        finally
        {
            foreach (OrtValue value in values.Values)
                value.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
