using static TorchSharp.torch;

namespace Gpt2.Torch.Generation.Sampling;

/// <summary>
/// One step of a row's logits pipeline (after Hugging Face's <c>LogitsProcessor</c>): logits in, logits out, with the
/// row's token history at hand. A processor that keeps tensors between steps is also <see cref="IDisposable"/>.
/// </summary>
internal interface ILogitsProcessor
{
    /// <summary>The processed logits for <paramref name="logits"/> [1, vocabulary] of a row whose tokens so far are <paramref name="history"/>.</summary>
    Tensor Process(Tensor logits, RowHistory history);
}
