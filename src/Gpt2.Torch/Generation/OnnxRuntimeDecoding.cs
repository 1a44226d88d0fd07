using Gpt2.Torch.Onnx;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Decoding through ONNX Runtime instead of TorchSharp: the generator exports the model's decoder in memory once (with
/// the key/value cache as inputs and outputs, and optionally weight-only quantized matrices) and runs each step in ONNX
/// Runtime on the CPU, whose matrix-vector kernels read weights at memory speed where libtorch's float32 one reads at
/// about half of it. Everything else (sampling, stops, windows, batches, streaming) is the generator's own.
/// </summary>
/// <remarks>
/// <para>The session holds a copy of the weights made when the generator is created: train the model further and create a
/// new generator to decode with the new weights. Needs ONNX Runtime's native library in the application
/// (<c>dotnet add package Microsoft.ML.OnnxRuntime</c>; Gpt2MLNet.ML brings it) and a model on the CPU of at most
/// 2 GB of float32 weights (GPT-2 up to the 355M preset).</para>
/// <para>Float32 gives the TorchSharp engine's tokens up to the order of floating-point sums (greedy outputs agree
/// except where two tokens' logits tie to rounding); <see cref="WeightQuantization"/> trades a measured quality loss
/// for speed (README: "Fast inference").</para>
/// </remarks>
public sealed record OnnxRuntimeDecoding
{
    /// <summary>Weight-only quantization of the blocks' matrices and the output head; float32 when null.</summary>
    public OnnxWeightQuantization? WeightQuantization { get; init; }

    /// <summary>Threads of ONNX Runtime's intra-operator pool; ONNX Runtime's default (one per physical core) when null.</summary>
    public int? Threads { get; init; }

    /// <summary>Throws when a setting is out of range.</summary>
    public void Validate()
    {
        WeightQuantization?.Validate();
        if (Threads is int threads)
            OptionChecks.AtLeast(threads, 1, nameof(Threads), "4, or null for ONNX Runtime's default");
    }
}
