using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Microsoft.Extensions.AI;
using Microsoft.ML;
using Microsoft.ML.Gpt2.Generation;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// The acceptance test of one model host: a chat client (whole and streamed), an embedding generator and an ML.NET text
/// generator's batch transform run at once on one model, and each gets exactly its solo result.
/// </summary>
[TestClass]
public sealed class SharedHostTests
{
    public sealed class PromptRow
    {
        public string Prompt { get; set; } = "";
    }

    public sealed class GeneratedRow
    {
        public string Prompt { get; set; } = "";

        public string GeneratedText { get; set; } = "";
    }

    private static readonly string[] Prompts = ["Every effort moves you", "The quick brown fox", "Hi", "Once upon a time there was", "One two three four five"];
    private static readonly string[] Texts = ["An embedding of this", "and of that", "and one more text to embed, a longer one"];

    [TestMethod]
    public async Task ChatEmbeddingsAndABatchTransformRunAtOnceOnOneModelAndEachGetsItsSoloResult()
    {
        var mlContext = new MLContext(seed: 1);
        IDataView data = mlContext.Data.LoadFromEnumerable(Prompts.Select(prompt => new PromptRow { Prompt = prompt }).ToArray());
        manual_seed(31);
        using Gpt2TextGenerationTransformer transformer = new Gpt2TextGenerator(mlContext, new Gpt2TextGenerator.Options
        {
            BaseModel = LanguageModelSource.Random(TinyModels.RandomConfig),
            Generation = { Sampling = new() { MaxNewTokens = 20 }, BatchSize = 3 },
            Device = CPU,
        }).Fit(data);
        using var chat = new Gpt2ChatClient(transformer.GenerationService);
        using var embeddings = new Gpt2EmbeddingGenerator(transformer.GenerationService.Host, normalize: true, batchSize: 2);
        var chatOptions = new ChatOptions { MaxOutputTokens = 15, Temperature = 0 };

        string[] Transform() => [.. mlContext.Data.CreateEnumerable<GeneratedRow>(transformer.Transform(data), reuseRowObject: false).Select(row => row.GeneratedText)];
        async Task<string> Chat(string prompt) => (await chat.GetResponseAsync(prompt, chatOptions)).Text;
        async Task<string> ChatStreamed(string prompt)
        {
            var text = new System.Text.StringBuilder();
            await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync(prompt, chatOptions))
                text.Append(update.Text);
            return text.ToString();
        }
        async Task<float[][]> Embed() => [.. (await embeddings.GenerateAsync(Texts)).Select(e => e.Vector.ToArray())];

        // Solo, one after the other.
        string[] soloTransform = Transform();
        var soloChats = new List<string>();
        foreach (string prompt in Prompts)
            soloChats.Add(await Chat(prompt));
        float[][] soloEmbeddings = await Embed();
        Assert.AreEqual(soloChats[0], await ChatStreamed(Prompts[0]), "streamed and whole chat agree alone");

        // All at once.
        Task<string[]> transforming = Task.Run(Transform);
        Task<string>[] chatting = [.. Prompts.Select((prompt, i) => Task.Run(() => i % 2 == 0 ? Chat(prompt) : ChatStreamed(prompt)))];
        Task<float[][]>[] embedding = [.. Enumerable.Range(0, 3).Select(_ => Task.Run(Embed))];
        await Task.WhenAll([transforming, .. chatting, .. embedding]).WaitAsync(TimeSpan.FromMinutes(3));

        CollectionAssert.AreEqual(soloTransform, transforming.Result, "the batch transform");
        for (int i = 0; i < Prompts.Length; i++)
            Assert.AreEqual(soloChats[i], chatting[i].Result, $"chat {i} ({(i % 2 == 0 ? "whole" : "streamed")})");
        // Requests waiting for the same round share one padded pass, which may change a float32 sum's last bit.
        foreach (Task<float[][]> vectors in embedding)
            for (int i = 0; i < Texts.Length; i++)
                for (int d = 0; d < soloEmbeddings[i].Length; d++)
                    Assert.AreEqual(soloEmbeddings[i][d], vectors.Result[i][d], 1e-5f, $"embedding {i}, dimension {d}");
        int peak = transformer.GenerationService.Host.PeakBatchSize;
        Console.WriteLine($"peak batch size {peak}");
        Assert.IsGreaterThan(1, peak, "generation rows were decoded together");
    }
}
