using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// The step interface of the host's one decode loop (<see cref="DecodeScheduler"/>): the forward passes of one engine,
/// and the batch's keys and values between steps: <see cref="TorchContinuousBatchEngine"/> or
/// <see cref="OnnxRuntimeContinuousBatchEngine"/>. Rows are right-aligned: a row's real tokens are the last ones it has
/// cached, so its mask is known from their count, and positions count real tokens only.
/// </summary>
internal interface IContinuousBatchEngine : IDisposable
{
    /// <summary>Cached positions of the batch, padding included.</summary>
    long Length { get; }

    /// <summary>
    /// Reads <paramref name="windows"/> together in one left-padded pass from no keys and values: the logits [rows, vocab]
    /// after each, and their keys and values for <see cref="Compose"/> (row j's tokens are the last
    /// <c>windows[j].Length</c> positions of its row), which the caller disposes.
    /// </summary>
    Tensor Prefill(IReadOnlyList<int[]> windows, out IDisposable prefillCache);

    /// <summary>
    /// The batch becomes the <paramref name="kept"/> rows (their indices in the current batch, with the real tokens each
    /// has cached) followed by the <paramref name="joining"/> rows of prefill caches, right-aligned over
    /// <paramref name="length"/> positions, with room for <paramref name="capacity"/> positions. The caller keeps
    /// owning the prefill caches.
    /// </summary>
    void Compose(int[] kept, long[] keptCached, IReadOnlyList<(IDisposable Cache, int Row)> joining, long[] joiningCached, long length, long capacity);

    /// <summary>Logits [rows, vocab] after each row's <paramref name="pending"/> token; <paramref name="cached"/> counts each row's real cached tokens.</summary>
    Tensor Step(long[] pending, long[] cached);

    /// <summary>Drops the batch's keys and values (after a failed step).</summary>
    void Reset();
}
