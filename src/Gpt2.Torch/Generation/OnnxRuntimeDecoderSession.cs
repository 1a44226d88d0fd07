using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// An ONNX Runtime session over a model's step decoder (<see cref="Gpt2OnnxGraph.BuildStepDecoder"/>), exported in
/// memory: inputs <c>input_ids</c>, <c>position_ids</c>, <c>attention_mask</c> (int32) and <c>past_0</c>...; outputs
/// <c>logits</c> at the last position and <c>present_0</c>....
/// </summary>
internal sealed class OnnxRuntimeDecoderSession : IDisposable
{
    private OnnxRuntimeDecoderSession(Gpt2Config config, InferenceSession session)
    {
        Config = config;
        Session = session;
        PastNames = [.. Enumerable.Range(0, config.LayerCount).Select(layer => $"past_{layer}")];
        OutputNames = [Gpt2OnnxNames.Logits, .. Enumerable.Range(0, config.LayerCount).Select(layer => $"present_{layer}")];
    }

    /// <summary>The model's sizes.</summary>
    public Gpt2Config Config { get; }

    /// <summary>The session.</summary>
    public InferenceSession Session { get; }

    /// <summary>The past keys and values inputs, one per layer.</summary>
    public string[] PastNames { get; }

    /// <summary>The logits, then the present keys and values of each layer.</summary>
    public string[] OutputNames { get; }

    /// <summary>Exports <paramref name="model"/>'s weights as they are now and opens a session over them.</summary>
    public static OnnxRuntimeDecoderSession Create(Gpt2Model model, OnnxRuntimeDecoding options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (model.Device.type != TorchSharp.DeviceType.CPU)
            throw new ArgumentException(
                $"ONNX Runtime decoding runs on the CPU, but the model is on {model.Device}; move it with model.to(CPU), or decode on {model.Device} with TorchSharp (no OnnxRuntimeDecoding).",
                nameof(model));
        if (model.LoRA is not null)
            throw new ArgumentException("The model has LoRA adapters that are not part of its weights; call model.MergeLoRA() before decoding through ONNX Runtime.", nameof(model));
        byte[] bytes;
        using (var buffer = new MemoryStream())
        {
            Dictionary<string, Tensor> parameters = model.state_dict();
            Gpt2OnnxGraph.BuildStepDecoder(model.Config, name => parameters[name], options.WeightQuantization).WriteTo(buffer);
            bytes = buffer.ToArray();
        }
        try
        {
            using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            if (options.Threads is int threads)
                sessionOptions.IntraOpNumThreads = threads;
            return new OnnxRuntimeDecoderSession(model.Config, new InferenceSession(bytes, sessionOptions));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            throw new InvalidOperationException(
                "ONNX Runtime's native library could not be loaded, so OnnxRuntimeDecoding cannot be used: add it to the application " +
                $"with 'dotnet add package Microsoft.ML.OnnxRuntime' (version {typeof(InferenceSession).Assembly.GetName().Version?.ToString(3)}), " +
                "or decode with TorchSharp (no OnnxRuntimeDecoding).", e);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => Session.Dispose();
}
