using static TorchSharp.torch;

namespace Gpt2.Torch.Onnx;

/// <summary>What <see cref="Gpt2OnnxExporter"/> exports: next-token logits (the default) or a sequence classifier.</summary>
public sealed class Gpt2OnnxExportOptions
{
    /// <summary>
    /// The classification head's weight [classes, embedding] (a <c>Linear</c> weight). When set, the model outputs
    /// <c>logits</c> [batch, classes] from the hidden state of each row's last real token, and
    /// their softmax as <c>probabilities</c>; when null, next-token logits [batch, sequence, vocab].
    /// </summary>
    public Tensor? ClassifierWeight { get; init; }

    /// <summary>The classification head's bias [classes]; none when null.</summary>
    public Tensor? ClassifierBias { get; init; }

    /// <summary>
    /// For a classifier: rows keep their first <c>MaxSequenceLength</c> tokens. Classifiers also drop the padding columns
    /// after the last real token of the batch before any computation, so fixed-size padded inputs cost only their real length.
    /// </summary>
    public int? MaxSequenceLength { get; init; }

    /// <summary>
    /// When set, the blocks' matrices and the output head are stored as block-quantized codes for ONNX Runtime's
    /// <c>MatMulNBits</c> (weight-only, activations stay float32); float32 weights when null.
    /// </summary>
    public OnnxWeightQuantization? WeightQuantization { get; init; }
}
