using System.Text.Json.Nodes;
using Gpt2.Torch.Onnx;
using GenAI = Microsoft.ML.OnnxRuntimeGenAI;

namespace Gpt2.Torch.Tests;

/// <summary>
/// <see cref="LlamaOnnxGraph.WriteGenAIFolder"/> checked against ONNX Runtime GenAI itself (Microsoft.ML.OnnxRuntimeGenAI):
/// it loads the folder as its llama / qwen2 / qwen3 model type and its greedy tokens are the float64 reference's.
/// </summary>
[TestClass]
public sealed class LlamaOnnxGenAITests : TemporaryDirectoryTest
{
    [TestMethod]
    [DataRow("tiny-llama")]
    [DataRow("tiny-qwen2")]
    [DataRow("tiny-qwen3")]
    [DataRow("tiny-llama3")]
    public void OnnxRuntimeGenAIGeneratesTheGreedyContinuation(string name)
    {
        using var fixture = new LlamaOnnxFixture(name);
        LlamaOnnxGraph.WriteGenAIFolder(fixture.Shape, fixture.Parameter, Directory, LlamaGenAIConfig.TokenIds.From(fixture.ConfigJson), tokenizerFolder: null);
        int[] prompt = [.. fixture.Ids("greedy.prompt").Select(id => (int)id)];
        int[] expected = [.. fixture.Ids("greedy.output").Select(id => (int)id)];

        using var model = new GenAI.Model(Directory);
        using var parameters = new GenAI.GeneratorParams(model);
        parameters.SetSearchOption("max_length", expected.Length);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new GenAI.Generator(model, parameters);
        generator.AppendTokens(prompt);
        while (!generator.IsDone())
            generator.GenerateNextToken();

        Assert.AreEqual(fixture.Shape.ModelType, model.GetModelType());
        CollectionAssert.AreEqual(expected, generator.GetSequence(0).ToArray(), name);
    }

    [TestMethod]
    public void GenAIConfigTakesTheModelsTokenIdsAndEveryEndOfSequenceId()
    {
        using var fixture = new LlamaOnnxFixture("tiny-llama3");
        LlamaOnnxGraph.WriteGenAIFolder(fixture.Shape, fixture.Parameter, Directory, LlamaGenAIConfig.TokenIds.From(fixture.ConfigJson), tokenizerFolder: null);

        JsonNode model = JsonNode.Parse(File.ReadAllText(Path.Combine(Directory, "genai_config.json")))!["model"]!;

        Assert.AreEqual(1, model["bos_token_id"]!.GetValue<int>());
        CollectionAssert.AreEqual(new[] { 2, 3 }, model["eos_token_id"]!.AsArray().Select(id => id!.GetValue<int>()).ToArray());
        Assert.AreEqual(2, model["decoder"]!["num_key_value_heads"]!.GetValue<int>());
        Assert.AreEqual(16, model["decoder"]!["head_size"]!.GetValue<int>());
    }

    [TestMethod]
    public void TokenizerFilesAreCopiedFromTheGivenFolderAndAMissingTokenizerJsonIsNamed()
    {
        using var fixture = new LlamaOnnxFixture("tiny-llama");
        string source = Path.Combine(Directory, "source"), target = Path.Combine(Directory, "target");
        System.IO.Directory.CreateDirectory(source);
        System.IO.Directory.CreateDirectory(target);
        var ids = LlamaGenAIConfig.TokenIds.From(fixture.ConfigJson);

        var error = Assert.ThrowsExactly<FileNotFoundException>(() => LlamaOnnxGraph.WriteGenAIFolder(fixture.Shape, fixture.Parameter, target, ids, source));
        StringAssert.Contains(error.Message, "tokenizer.json");

        File.WriteAllText(Path.Combine(source, "tokenizer.json"), "{\"model\":{}}");
        File.WriteAllText(Path.Combine(source, "tokenizer_config.json"), "{\"eos_token\":\"</s>\"}");
        LlamaOnnxGraph.WriteGenAIFolder(fixture.Shape, fixture.Parameter, target, ids, source);
        Assert.AreEqual("{\"model\":{}}", File.ReadAllText(Path.Combine(target, "tokenizer.json")));
        Assert.AreEqual("{\"eos_token\":\"</s>\"}", File.ReadAllText(Path.Combine(target, "tokenizer_config.json")));
    }
}
