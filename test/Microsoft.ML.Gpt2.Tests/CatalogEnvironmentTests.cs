namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// How the catalog extensions reach the caller's MLContext (ML.NET keeps it internal): found under the ML.NET this builds
/// against, and a context of the estimator's own where it is not found. The estimator tests check what it is used for.
/// </summary>
[TestClass]
public sealed class CatalogEnvironmentTests
{
    [TestMethod]
    public void ThisMLNetLetsACatalogsContextBeReached()
    {
        Assert.IsTrue(CatalogEnvironment.IsReachable, "ML.NET's IInternalCatalog, ICancelable or IHostEnvironmentInternal changed");
        var caller = new MLContext(1) { GpuDeviceId = 3, FallbackToCpu = true };

        foreach (object catalog in new object[] { caller.Transforms.Text, caller.MulticlassClassification.Trainers })
        {
            MLContext standIn = CatalogEnvironment.CreateContext(catalog, seed: 1);
            CatalogEnvironment found = CatalogEnvironment.Of(standIn) ?? throw new AssertFailedException($"{catalog.GetType().Name}'s context was not reached");
            Assert.AreEqual(3, found.GpuDeviceId);
            Assert.IsTrue(found.FallbackToCpu);
            Assert.IsNull(standIn.GpuDeviceId, "the stand-in keeps its own settings; the caller's are read when needed");
            caller.GpuDeviceId = null;
            Assert.IsNull(found.GpuDeviceId, "read as it is now, not as it was");
            caller.GpuDeviceId = 3;
        }
    }

    [TestMethod]
    public void WhatIsNotAnMLNetCatalogGetsAContextOfItsOwn()
    {
        MLContext own = CatalogEnvironment.CreateContext(new object(), seed: 1);

        Assert.IsNull(CatalogEnvironment.Of(own));
        Assert.IsNull(CatalogEnvironment.Of(new MLContext(1)));
    }
}
