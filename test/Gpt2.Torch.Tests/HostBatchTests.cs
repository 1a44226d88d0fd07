using Gpt2.Torch.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

[TestClass]
public sealed class HostBatchTests
{
    private static readonly long[] Values = [1, 2, 3, 4, 5, 6];

    [TestMethod]
    public void ForTheCpuABatchIsBuiltInPlaceAndLeftWhereItIs()
    {
        using Tensor batch = HostBatch.Int64(Values, [2, 3], CPU);
        Assert.AreEqual(DeviceType.CPU, batch.device_type);
        Assert.AreEqual(ScalarType.Int64, batch.dtype);
        CollectionAssert.AreEqual(new long[] { 2, 3 }, batch.shape);
        CollectionAssert.AreEqual(Values, batch.data<long>().ToArray());
        Assert.AreSame(batch, HostBatch.ToDevice(batch, CPU), "no copy, and nothing to pin, for the CPU");
    }

    [TestMethod]
    public void ForCudaABatchArrivesWithItsValuesAndTheHostTensorIsUntouched()
    {
        if (!cuda.is_available())
            Assert.Inconclusive("No CUDA device here: the pinned, non-blocking path needs one.");
        using var scope = NewDisposeScope();
        Tensor host = tensor(Values, [2, 3], int64);
        Tensor moved = HostBatch.ToDevice(host, CUDA);
        Tensor built = HostBatch.Int64(Values, [2, 3], CUDA);
        Assert.AreEqual(DeviceType.CUDA, moved.device_type);
        Assert.AreEqual(DeviceType.CUDA, built.device_type);
        // Reading back waits for the queued copies.
        CollectionAssert.AreEqual(Values, moved.cpu().data<long>().ToArray());
        CollectionAssert.AreEqual(Values, built.cpu().data<long>().ToArray());
        Assert.AreEqual(DeviceType.CPU, host.device_type);
        CollectionAssert.AreEqual(Values, host.data<long>().ToArray());
    }
}
