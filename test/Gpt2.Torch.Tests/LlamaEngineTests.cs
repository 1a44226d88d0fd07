using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// The Llama family through the product's one engine (<see cref="LanguageModelHost"/>), decoded by TorchSharp and by ONNX
/// Runtime (the family's step decoder), alone and in a continuous batch, against the float64 reference's greedy tokens.
/// </summary>
[TestClass]
public sealed class LlamaEngineTests
{
    public static IEnumerable<object[]> Fixtures => LlamaFixture.Names.Select(name => new object[] { name });

    // The fixtures' vocabularies (at most 256 ids) are byte tokens of any byte-level tokenizer: Qwen3's decodes them.
    private static LanguageModelTokenizer Tokenizer => TokenizerFixture.Tokenizer("qwen3");

    private static (int[] Prompt, int[] Continuation) Reference(string name)
    {
        using var expected = LlamaFixture.Expected(name);
        int[] prompt = [.. expected.ReadTensor("greedy.prompt").data<long>().ToArray().Select(id => (int)id)];
        int[] output = [.. expected.ReadTensor("greedy.output").data<long>().ToArray().Select(id => (int)id)];
        return (prompt, output[prompt.Length..]);
    }

    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 16, StopAtEndOfText = false };

    // Catches an engine that feeds the family wrong positions after the cache, caches query heads instead of key/value
    // heads, or an ONNX step decoder that differs from the model.
    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void BothEnginesDecodeTheReferenceTokens(string name)
    {
        (int[] prompt, int[] continuation) = Reference(name);
        using CausalLanguageModel model = LlamaFixture.Load(name);
        foreach (OnnxRuntimeDecoding? onnxRuntime in new[] { null, new OnnxRuntimeDecoding() })
        {
            using var generator = new Gpt2Generator(model, Tokenizer, onnxRuntime);
            int[] output = generator.Generate(prompt, Greedy with { MaxNewTokens = continuation.Length });
            CollectionAssert.AreEqual(continuation, output[prompt.Length..], $"{name} through {(onnxRuntime is null ? "TorchSharp" : "ONNX Runtime")}");
        }
    }

    // Catches left padding that shifts a row's rotary positions or lets it attend to padding in a batch of the family.
    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void RowsOfABatchOfDifferentLengthsEachGetTheirSoloTokens(string name)
    {
        (int[] prompt, _) = Reference(name);
        using CausalLanguageModel model = LlamaFixture.Load(name);
        foreach (OnnxRuntimeDecoding? onnxRuntime in new[] { null, new OnnxRuntimeDecoding() })
        {
            using var generator = new Gpt2Generator(model, Tokenizer, onnxRuntime);
            int[][] prompts = [prompt, prompt[3..], prompt[..^2]];
            int[][] solo = [.. prompts.Select(p => generator.Generate(p, Greedy))];
            int[][] batch = generator.GenerateBatch(prompts, Greedy);
            for (int row = 0; row < prompts.Length; row++)
                CollectionAssert.AreEqual(solo[row], batch[row], $"{name}, row {row}, {(onnxRuntime is null ? "TorchSharp" : "ONNX Runtime")}");
        }
    }

    // Catches Auto keeping a family on TorchSharp although it has ONNX graphs (or picking ONNX Runtime for bfloat16).
    [TestMethod]
    public void AutoPicksOnnxRuntimeForAFloat32FamilyModelOnTheCpu()
    {
        using CausalLanguageModel model = LlamaFixture.Load("tiny-llama");
        Assert.AreEqual("onnxruntime", DecodingEngine.Auto.ResolvedName(model));
        model.ToPrecision(Precision.BFloat16);
        Assert.AreEqual("torchsharp", DecodingEngine.Auto.ResolvedName(model));
    }
}
