using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary><see cref="DecodingEngine"/>: the names a command line gives, and what <see cref="DecodingEngine.Auto"/> picks for a model.</summary>
[TestClass]
public sealed class DecodingEngineTests
{
    private static readonly Gpt2Config Tiny = new() { ContextLength = 32, EmbeddingSize = 16, HeadCount = 2, LayerCount = 1, VocabSize = 300, Dropout = 0 };

    [TestMethod]
    public void NamesParseToTheirEnginesAndOthersAreRefusedNamingTheChoices()
    {
        Assert.AreSame(DecodingEngine.Auto, DecodingEngine.Parse("AUTO"));
        Assert.AreSame(DecodingEngine.TorchSharp, DecodingEngine.Parse("torchsharp"));
        Assert.AreEqual(new OnnxRuntimeDecoding(), DecodingEngine.Parse("ONNXRuntime").OnnxRuntimeSettings);
        Assert.AreEqual(OnnxWeightQuantization.Int8, DecodingEngine.Parse("onnxruntime-int8").OnnxRuntimeSettings!.WeightQuantization);
        Assert.AreEqual(OnnxWeightQuantization.Int4, DecodingEngine.Parse("onnxruntime-int4").OnnxRuntimeSettings!.WeightQuantization);
        foreach (string name in DecodingEngine.Names)
            Assert.AreEqual(name, DecodingEngine.Parse(name).Name);
        var e = Assert.ThrowsExactly<ArgumentException>(() => DecodingEngine.Parse("tensorrt"));
        StringAssert.Contains(e.Message, "auto, torchsharp, onnxruntime, onnxruntime-int8, onnxruntime-int4");
    }

    [TestMethod]
    public void AutoPicksOnnxRuntimeFloat32ForAFloat32ModelOnTheCpu()
    {
        using var model = new Gpt2Model(Tiny, CPU);
        Assert.AreEqual(new OnnxRuntimeDecoding(), DecodingEngine.Auto.Resolve(model));
        Assert.AreEqual("onnxruntime", DecodingEngine.Auto.ResolvedName(model));
        Assert.IsNull(DecodingEngine.TorchSharp.Resolve(model), "asked for TorchSharp, the model gets TorchSharp");
    }

    [TestMethod]
    public void AutoKeepsTorchSharpForBFloat16WeightsAndUnmergedLoRA()
    {
        using (var bfloat16 = new Gpt2Model(Tiny, CPU).ToPrecision(Precision.BFloat16))
        {
            Assert.IsNull(DecodingEngine.Auto.Resolve(bfloat16));
            Assert.AreEqual("torchsharp", DecodingEngine.Auto.ResolvedName(bfloat16));
        }
        using var withLoRA = new Gpt2Model(Tiny, CPU);
        withLoRA.AddLoRA(new LoRAOptions { Rank = 2, Alpha = 2 });
        Assert.IsNull(DecodingEngine.Auto.Resolve(withLoRA));
    }
}
