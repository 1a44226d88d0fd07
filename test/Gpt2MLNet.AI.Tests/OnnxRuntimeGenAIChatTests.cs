using Gpt2.Torch.Model;
using Gpt2.Torch.Onnx;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// Our model exported for ONNX Runtime GenAI (<see cref="Gpt2OnnxExporter.ExportForOnnxRuntimeGenAI(CausalLanguageModel, string)"/>) behind GenAI's own
/// <see cref="OnnxRuntimeGenAIChatClient"/>, with our prompt format as its prompt formatter: it answers as
/// <see cref="Gpt2ChatClient"/> does.
/// </summary>
[TestClass]
public sealed class OnnxRuntimeGenAIChatTests
{
    [TestMethod]
    public async Task OnnxRuntimeGenAIsChatClientOverTheExportAnswersAsOurs()
    {
        string folder = Path.Combine(Path.GetTempPath(), "gpt2mlnet-genai-" + Guid.NewGuid().ToString("N"));
        try
        {
            using Gpt2Model model = TinyModels.NewRandom(seed: 7);
            Gpt2OnnxExporter.ExportForOnnxRuntimeGenAI(model, folder);
            var formatter = new OnnxRuntimeGenAIChatClientOptions
            {
                PromptFormatter = (messages, options) => ChatPromptFormat.Alpaca.Render(messages, options?.Instructions),
            };
            using IChatClient theirs = new OnnxRuntimeGenAIChatClient(folder, formatter);
            using IChatClient ours = new Gpt2ChatClient(model, ChatPromptFormat.Alpaca);
            var options = new ChatOptions { MaxOutputTokens = 12 };
            ChatMessage[] messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Name a color.")];

            ChatResponse expected = await ours.GetResponseAsync(messages, options);
            ChatResponse actual = await theirs.GetResponseAsync(messages, options);
            Assert.AreEqual(expected.Text, actual.Text);
            Assert.AreEqual(expected.Usage!.InputTokenCount, actual.Usage!.InputTokenCount);
            Assert.AreEqual(expected.Usage.OutputTokenCount, actual.Usage.OutputTokenCount);
            Assert.AreEqual(ChatFinishReason.Length, actual.FinishReason);
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }
}
