using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch.Data;

/// <summary>
/// Moves batches built on the host to the device that computes with them. For a CUDA device a batch is copied into
/// pinned (page-locked) memory first, from which the copy to the GPU is queued without waiting: the host goes on
/// building the next batch while the GPU works (from pageable memory the driver stages the copy and the host waits).
/// PyTorch's pinned-memory allocator keeps a block until the copies queued from it have run, so the pinned tensor may
/// be disposed at once. Pinning needs CUDA, so batches for the CPU are left as they are.
/// </summary>
internal static class HostBatch
{
    /// <summary>An int64 tensor of <paramref name="shape"/> holding <paramref name="values"/>, on <paramref name="device"/> (see <see cref="ToDevice"/>).</summary>
    public static Tensor Int64(long[] values, long[] shape, Device device)
    {
        Tensor host = tensor(values, shape, int64);
        if (device.type == DeviceType.CPU)
            return host;
        using (host)
            return ToDevice(host, device);
    }

    /// <summary>
    /// <paramref name="batch"/> on <paramref name="device"/>: itself when it is there; for CUDA a copy queued from pinned
    /// memory (or from the GPU it is on) without waiting, ordered before the work queued after it; elsewhere a plain copy.
    /// The caller keeps owning <paramref name="batch"/>.
    /// </summary>
    public static Tensor ToDevice(Tensor batch, Device device)
    {
        if (batch.device_type == device.type && batch.device_index == device.index)
            return batch;
        if (device.type != DeviceType.CUDA)
            return batch.to(device);
        if (batch.device_type != DeviceType.CPU)
            return batch.to(device, non_blocking: true);
        using Tensor pinned = batch.pin_memory();
        return pinned.to(device, non_blocking: true);
    }
}
