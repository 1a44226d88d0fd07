namespace Gpt2.Torch.Onnx;

/// <summary>Names of the inputs and outputs of the ONNX models <see cref="Gpt2OnnxExporter"/> writes.</summary>
internal static class Gpt2OnnxNames
{
    /// <summary>Input: token ids, int64 [batch, sequence] (int32 in a greedy-search export).</summary>
    public const string InputIds = "input_ids";

    /// <summary>Input: int64 [batch, sequence], 1 for real tokens and 0 for padding (left or right).</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>
    /// Output, float: next-token logits [batch, sequence, vocab] from a language model export, or class logits
    /// [batch, classes] at each row's last real token from a classifier export.
    /// </summary>
    public const string Logits = "logits";

    /// <summary>Output of a classifier export: softmax of <see cref="Logits"/>, float [batch, classes].</summary>
    public const string Probabilities = "probabilities";

    /// <summary>Output of a greedy-search export: each row's generated tokens, int32 [batch, generated].</summary>
    public const string GeneratedIds = "generated_ids";

    /// <summary>Symbolic name of the batch dimension.</summary>
    public const string BatchDimension = "batch";

    /// <summary>Symbolic name of the sequence dimension.</summary>
    public const string SequenceDimension = "sequence";
}
