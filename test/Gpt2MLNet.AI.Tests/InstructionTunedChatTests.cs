using Gpt2.Torch;
using Gpt2.Torch.Model;
using Microsoft.Extensions.AI;
using Microsoft.ML;
using Microsoft.ML.Gpt2.Instructions;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI.Tests;

/// <summary>A chat client over a GPT-2 instruction-tuned by ML.NET's <see cref="Gpt2InstructionTuner"/> (four Alpaca rows, a tiny model).</summary>
[TestClass]
public sealed class InstructionTunedChatTests
{
    public sealed class Row
    {
        public string Instruction { get; set; } = "";
        public string Input { get; set; } = "";
        public string Output { get; set; } = "";
    }

    public sealed class Answer
    {
        public string Response { get; set; } = "";
    }

    private static readonly Row[] Rows =
    [
        new() { Instruction = "Name a primary color.", Output = "Red." },
        new() { Instruction = "What is the capital of Italy?", Output = "Rome is the capital of Italy." },
        new() { Instruction = "Say hello.", Output = "Hello!" },
        new() { Instruction = "Count to three.", Output = "1, 2, 3" },
    ];

    private static MLContext _context = null!;
    private static Gpt2InstructionTransformer _transformer = null!;

    [ClassInitialize]
    public static void Tune(TestContext _)
    {
        _context = new MLContext(seed: 1);
        var options = new Gpt2InstructionTuner.Options
        {
            BaseModel = LanguageModelSource.Random(new Gpt2Config { ContextLength = 96, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }),
            BatchSize = 4,
            MaxEpochs = 80,
            LearningRate = 1e-2,
            Generation = { Sampling = new() { MaxNewTokens = 16 } },
            Device = CPU,
        };
        _transformer = new Gpt2InstructionTuner(_context, options).Fit(_context.Data.LoadFromEnumerable(Rows));
    }

    [ClassCleanup]
    public static void Release() => _transformer.Dispose();

    [TestMethod]
    public async Task TheFittedTransformersServiceChatsInTheFormatItWasTrainedWith()
    {
        using IChatClient client = new ChatClientBuilder(
            new Gpt2ChatClient(_transformer.GenerationService, ChatPromptFormat.FromInstructionFormat(_transformer.PromptFormat), "tuned")).Build();
        string[] transformed = [.. _context.Data.CreateEnumerable<Answer>(_transformer.Transform(_context.Data.LoadFromEnumerable(Rows)), reuseRowObject: false)
            .Select(answer => answer.Response)];

        var options = new ChatOptions { MaxOutputTokens = 16 };
        for (int i = 0; i < Rows.Length; i++)
        {
            ChatResponse response = await client.GetResponseAsync(Rows[i].Instruction, options);
            Assert.AreEqual(transformed[i], response.Text.Trim(), Rows[i].Instruction);
        }
        ChatResponse color = await client.GetResponseAsync(Rows[0].Instruction, options);
        Assert.AreEqual("Red.", color.Text.Trim());
        Assert.AreEqual(ChatFinishReason.Stop, color.FinishReason, "the tuned model ends its answer with <|endoftext|>");
        Assert.IsFalse(_transformer.Model.TokenEmbedding.IsInvalid, "the transformer keeps its model when the client is disposed");
    }
}
