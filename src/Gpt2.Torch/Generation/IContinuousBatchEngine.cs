using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// The forward passes of a <see cref="ContinuousBatcher"/> in one engine, and the batch's keys and values between
/// steps: <see cref="TorchContinuousBatchEngine"/> or <see cref="OnnxRuntimeContinuousBatchEngine"/>. Rows are
/// right-aligned: a row's real tokens are the last ones it has cached, so its mask is known from their count.
/// </summary>
internal interface IContinuousBatchEngine : IDisposable
{
    /// <summary>Cached positions of the batch, padding included.</summary>
    long Length { get; }

    /// <summary>Reads <paramref name="prompt"/> alone: the logits [1, vocab] after it, and its keys and values for <see cref="Compose"/>.</summary>
    Tensor Prefill(int[] prompt, out IDisposable promptCache);

    /// <summary>
    /// The batch becomes the <paramref name="kept"/> rows (their indices in the current batch, with the real tokens each has
    /// cached) followed by the <paramref name="joining"/> prompts, right-aligned over <paramref name="length"/> positions.
    /// The caller keeps owning the prompt caches.
    /// </summary>
    void Compose(int[] kept, long[] keptCached, IReadOnlyList<IDisposable> joining, long[] joiningCached, long length);

    /// <summary>Logits [rows, vocab] after each row's <paramref name="pending"/> token; <paramref name="cached"/> counts each row's real cached tokens.</summary>
    Tensor Step(long[] pending, long[] cached);

    /// <summary>Drops the batch's keys and values (after a failed step).</summary>
    void Reset();
}
