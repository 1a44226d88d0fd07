using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Gpt2.Torch.Tokenization;
using GenAI = Microsoft.ML.OnnxRuntimeGenAI;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// <see cref="Gpt2OnnxExporter.ExportForOnnxRuntimeGenAI(CausalLanguageModel, string)"/>, checked against ONNX Runtime GenAI itself
/// (Microsoft.ML.OnnxRuntimeGenAI): it loads the folder, its greedy tokens equal ours, its tokenizer equals ours.
/// </summary>
[TestClass]
public sealed class OnnxRuntimeGenAIExportTests : TemporaryDirectoryTest
{
    private static Gpt2Model NewModel()
    {
        manual_seed(99);
        return new Gpt2Model(new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }, CPU);
    }

    private static int[] GenAIGreedy(string folder, int[] prompt, int maxNewTokens)
    {
        using var model = new GenAI.Model(folder);
        using var parameters = new GenAI.GeneratorParams(model);
        parameters.SetSearchOption("max_length", prompt.Length + maxNewTokens);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new GenAI.Generator(model, parameters);
        generator.AppendTokens(prompt);
        while (!generator.IsDone())
            generator.GenerateNextToken();
        return generator.GetSequence(0).ToArray();
    }

    [TestMethod]
    public void OnnxRuntimeGenAIGeneratesOurGreedyTokens()
    {
        using Gpt2Model model = NewModel();
        Gpt2OnnxExporter.ExportForOnnxRuntimeGenAI(model, Directory);
        var options = new GenerationOptions { MaxNewTokens = 20 };
        foreach (string text in new[] { "Every effort moves you", "x", "Emoji 😀 and 中文" })
        {
            int[] prompt = Gpt2Tokenizer.Default.Encode(text);
            int[] ours = new Gpt2Generator(model).Generate(prompt, options);
            CollectionAssert.AreEqual(ours, GenAIGreedy(Directory, prompt, options.MaxNewTokens), text);
        }
        using var genAIModel = new GenAI.Model(Directory);
        Assert.AreEqual("gpt2", genAIModel.GetModelType());
    }

    [TestMethod]
    public void OnnxRuntimeGenAIsTokenizerReadsOurTokenizerFiles()
    {
        using Gpt2Model model = NewModel();
        Gpt2OnnxExporter.ExportForOnnxRuntimeGenAI(model, Directory);
        using var genAIModel = new GenAI.Model(Directory);
        using var tokenizer = new GenAI.Tokenizer(genAIModel);
        foreach (string text in new[] { "Every effort moves you", "Hello, world! It's 2024.", "Emoji 😀 and 中文" })
        {
            int[] ours = Gpt2Tokenizer.Default.Encode(text);
            using GenAI.Sequences sequences = tokenizer.Encode(text);
            CollectionAssert.AreEqual(ours, sequences[0].ToArray(), text);
            Assert.AreEqual(text, tokenizer.Decode(ours), text);
        }
    }
}
