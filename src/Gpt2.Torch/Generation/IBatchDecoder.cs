using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// One engine's forward passes over a batch of growing rows, one step at a time, with each row's window chosen by
/// <see cref="DecodingWindows"/>: <see cref="BatchDecoder"/> (TorchSharp) or <see cref="OnnxRuntimeBatchDecoder"/>.
/// </summary>
internal interface IBatchDecoder : IDisposable
{
    /// <summary>Logits [batch, vocab] for the token after each row.</summary>
    Tensor NextLogits();

    /// <summary>Takes the tokens [batch] sampled from the last logits, after the caller appended them to the unfinished rows and marked the finished ones.</summary>
    void Advance(Tensor sampled);
}
