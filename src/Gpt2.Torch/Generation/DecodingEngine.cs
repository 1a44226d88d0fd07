using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Which engine runs a model's forward passes while it generates: <see cref="Auto"/> (the fastest correct engine for the
/// model and device, the default of every service built from a model source), <see cref="TorchSharp"/>, or
/// <see cref="OnnxRuntime"/> with <see cref="OnnxRuntimeDecoding"/> settings (float32 or weight-only quantized).
/// </summary>
/// <remarks>
/// <para><see cref="Auto"/> chooses ONNX Runtime float32 for a model on the CPU (its matrix-vector kernels read weights
/// at memory speed, so batch-1 decoding runs several times faster than libtorch's; README, "Benchmarks") and TorchSharp
/// everywhere else: on CUDA, for bfloat16 weights, for a model with unmerged LoRA adapters, for weights past ONNX's
/// 2 GB in-memory limit, and when ONNX Runtime's native library is not in the application (Gpt2MLNet.Torch alone
/// references only its managed part). Both engines give the same greedy tokens up to the order of floating-point sums.</para>
/// <para>ONNX Runtime decodes with a copy of the weights taken when the service is made; a live model that keeps
/// training should decode with <see cref="TorchSharp"/>, which services built over a model in memory use unless told
/// otherwise.</para>
/// </remarks>
public sealed record DecodingEngine
{
    private DecodingEngine(string name, OnnxRuntimeDecoding? onnxRuntime)
    {
        Name = name;
        OnnxRuntimeSettings = onnxRuntime;
    }

    /// <summary>The fastest correct engine for the model and its device (see the remarks).</summary>
    public static DecodingEngine Auto { get; } = new("auto", null);

    /// <summary>TorchSharp (libtorch), on the model's own device and weights.</summary>
    public static DecodingEngine TorchSharp { get; } = new("torchsharp", null);

    /// <summary>ONNX Runtime on the CPU, with float32 weights unless <paramref name="settings"/> quantize them.</summary>
    public static DecodingEngine OnnxRuntime(OnnxRuntimeDecoding? settings = null)
    {
        settings ??= new OnnxRuntimeDecoding();
        settings.Validate();
        string name = settings.WeightQuantization?.Bits switch
        {
            null => "onnxruntime",
            int bits => $"onnxruntime-int{bits}",
        };
        return new DecodingEngine(name, settings);
    }

    /// <summary>The engine's name as <see cref="Parse"/> reads it (<c>auto</c>, <c>torchsharp</c>, <c>onnxruntime</c>, <c>onnxruntime-int8</c>, <c>onnxruntime-int4</c>).</summary>
    public string Name { get; }

    /// <summary>The ONNX Runtime settings of an ONNX Runtime engine; null for <see cref="Auto"/> and <see cref="TorchSharp"/>.</summary>
    public OnnxRuntimeDecoding? OnnxRuntimeSettings { get; }

    /// <summary>The names a command line or configuration gives, in the order <see cref="Parse"/> lists them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["auto", "torchsharp", "onnxruntime", "onnxruntime-int8", "onnxruntime-int4"];

    /// <summary>The engine a name asks for (case-insensitive; see <see cref="Names"/>).</summary>
    /// <exception cref="ArgumentException">The name is none of <see cref="Names"/>.</exception>
    public static DecodingEngine Parse(string name) => name?.ToLowerInvariant() switch
    {
        "auto" => Auto,
        "torchsharp" => TorchSharp,
        "onnxruntime" => OnnxRuntime(),
        "onnxruntime-int8" => OnnxRuntime(new OnnxRuntimeDecoding { WeightQuantization = OnnxWeightQuantization.Int8 }),
        "onnxruntime-int4" => OnnxRuntime(new OnnxRuntimeDecoding { WeightQuantization = OnnxWeightQuantization.Int4 }),
        _ => throw new ArgumentException($"'{name}' is not a decoding engine; use one of {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>
    /// The ONNX Runtime settings this engine runs <paramref name="model"/> with, or null for TorchSharp; <see cref="Auto"/>
    /// decides here (see the remarks).
    /// </summary>
    internal OnnxRuntimeDecoding? Resolve(CausalLanguageModel model) =>
        this == Auto ? (OnnxRuntimeSuits(model) ? new OnnxRuntimeDecoding() : null) : OnnxRuntimeSettings;

    /// <summary>The engine <paramref name="model"/> ends up with: its name, with <see cref="Auto"/> resolved.</summary>
    internal string ResolvedName(CausalLanguageModel model) => this == Auto ? (OnnxRuntimeSuits(model) ? "onnxruntime" : TorchSharp.Name) : Name;

    private static bool OnnxRuntimeSuits(CausalLanguageModel model) =>
        model.Device.type == global::TorchSharp.DeviceType.CPU
        && model.Precision == Precision.Float32
        && model.LoRA is null
        && model.Config.OnnxExport is not null
        && model.ParameterCount * sizeof(float) < OnnxWeightLimitBytes
        && OnnxRuntimeNatives.Value;

    // An in-memory ONNX model is one protobuf message, which cannot pass 2 GB; the step decoder holds the weights once.
    private const long OnnxWeightLimitBytes = 2L * 1024 * 1024 * 1024 - 64L * 1024 * 1024;

    private static readonly Lazy<bool> OnnxRuntimeNatives = new(() =>
    {
        try
        {
            _ = OrtEnv.Instance();
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            return false;
        }
    });
}
