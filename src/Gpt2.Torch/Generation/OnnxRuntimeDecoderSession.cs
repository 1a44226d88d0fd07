using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// An ONNX Runtime session over a model's step decoder (<see cref="Gpt2OnnxGraph.BuildStepDecoder"/>), exported in
/// memory: inputs <c>input_ids</c>, <c>position_ids</c>, <c>attention_mask</c> (int32) and <c>past_0</c>...; outputs
/// <c>logits</c> at the last position and <c>present_0</c>....
/// </summary>
internal sealed class OnnxRuntimeDecoderSession : IDisposable
{
    private readonly RunOptions _runOptions = new();

    private OnnxRuntimeDecoderSession(LanguageModelConfig config, InferenceSession session)
    {
        Config = config;
        Session = session;
        PastNames = [.. Enumerable.Range(0, config.LayerCount).Select(layer => $"past_{layer}")];
        OutputNames = [Gpt2OnnxNames.Logits, .. Enumerable.Range(0, config.LayerCount).Select(layer => $"present_{layer}")];
    }

    /// <summary>The model's sizes.</summary>
    public LanguageModelConfig Config { get; }

    /// <summary>The session.</summary>
    public InferenceSession Session { get; }

    /// <summary>The past keys and values inputs, one per layer.</summary>
    public string[] PastNames { get; }

    /// <summary>The logits, then the present keys and values of each layer.</summary>
    public string[] OutputNames { get; }

    /// <summary>Exports <paramref name="model"/>'s weights as they are now and opens a session over them.</summary>
    public static OnnxRuntimeDecoderSession Create(CausalLanguageModel model, OnnxRuntimeDecoding options)
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
        Dictionary<string, Tensor> parameters = model.state_dict();
        byte[] bytes = Gpt2OnnxExporter.FamilyOf(model).BuildStepDecoder(model.Config, name => parameters[name], options.WeightQuantization).ToArray();
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

    /// <summary>Past keys and values of no positions for <paramref name="batch"/> rows, one per layer; the caller frees them.</summary>
    public OrtValue[] EmptyPasts(int batch) => NewPasts(batch, 0);

    /// <summary>Zeroed keys and values of <paramref name="length"/> positions for <paramref name="batch"/> rows, one per layer; the caller frees them.</summary>
    public OrtValue[] NewPasts(int batch, long length)
    {
        long[] shape = [2, batch, Config.KeyValueHeadCount, length, Config.HeadSize];
        var pasts = new OrtValue[Config.LayerCount];
        for (int layer = 0; layer < pasts.Length; layer++)
        {
            pasts[layer] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, shape);
            pasts[layer].GetTensorMutableDataAsSpan<float>().Clear();
        }
        return pasts;
    }

    /// <summary>
    /// One step of a batch whose rows are right-aligned in <paramref name="pasts"/> (<paramref name="length"/> positions,
    /// each row's <paramref name="cached"/> real tokens last): the logits [rows, vocab] after each row's
    /// <paramref name="pending"/> token, which takes the position after its real ones, and the present keys and values.
    /// </summary>
    public (Tensor Logits, OrtValue[] Presents) Step(long[] pending, long[] cached, long length, OrtValue[] pasts)
    {
        int rows = pending.Length, width = (int)length + 1;
        var mask = new int[rows * width];
        var positions = new int[rows];
        for (int row = 0; row < rows; row++)
        {
            Array.Fill(mask, 1, row * width + (int)(length - cached[row]), (int)cached[row] + 1);
            positions[row] = (int)cached[row];
        }
        return Run(rows, [.. pending.Select(token => (int)token)], positions, mask, 1, pasts);
    }

    /// <summary>
    /// One forward pass of <paramref name="width"/> new tokens per row (int32 ids, positions [batch, width]; mask [batch,
    /// past + width]) after <paramref name="pasts"/> (left to the caller): the logits [batch, vocab] at the last position
    /// as a tensor, and the present keys and values, in ONNX Runtime's arena, for the caller to free.
    /// </summary>
    public (Tensor Logits, OrtValue[] Presents) Run(int batch, int[] ids, int[] positions, int[] mask, int width, OrtValue[] pasts)
    {
        using OrtValue idValue = OrtValue.CreateTensorValueFromMemory(ids, [batch, width]);
        using OrtValue positionValue = OrtValue.CreateTensorValueFromMemory(positions, [batch, width]);
        using OrtValue maskValue = OrtValue.CreateTensorValueFromMemory(mask, [batch, mask.Length / batch]);
        IDisposableReadOnlyCollection<OrtValue> outputs = Session.Run(_runOptions, [Gpt2OnnxNames.InputIds, "position_ids", Gpt2OnnxNames.AttentionMask, .. PastNames],
            [idValue, positionValue, maskValue, .. pasts], OutputNames);
        Tensor logits;
        try
        {
            logits = empty([batch, Config.VocabSize], float32);
            // One memcpy into the tensor's memory; TensorAccessor.CopyFrom goes element by element, a cost paid every step.
            MemoryMarshal.AsBytes(outputs.First().GetTensorDataAsSpan<float>()).CopyTo(logits.bytes);
        }
        catch
        {
            outputs.Dispose();
            throw;
        }
        outputs.First().Dispose();
        return (logits, [.. outputs.Skip(1)]);   // the list holds nothing else, so it is not disposed
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _runOptions.Dispose();
        Session.Dispose();
    }
}
