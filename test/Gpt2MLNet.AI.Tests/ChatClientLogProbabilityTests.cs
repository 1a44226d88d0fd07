using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// Log-probabilities through <see cref="Gpt2ChatClient"/>, carried as the OpenAI adapter carries provider data: in the
/// additional properties under <c>"logprobs"</c>, whole and streamed, checked against log-softmax of the model's own
/// logits from one plain forward pass over the prompt and the answer (an oracle that shares nothing with the decode loop).
/// </summary>
[TestClass]
public sealed class ChatClientLogProbabilityTests
{
    private const string Prompt = "Every effort moves you";
    private static Gpt2Model _model = null!;
    private static Gpt2ChatClient _client = null!;

    [ClassInitialize]
    public static void CreateClient(TestContext _)
    {
        _model = TinyModels.NewRandom();
        _client = new Gpt2ChatClient(new Gpt2TextGenerationService(_model), ChatPromptFormat.RawText, ownsService: true);
    }

    [ClassCleanup]
    public static void Release()
    {
        _client.Dispose();
        _model.Dispose();
    }

    private static ChatOptions Asking(int top, int maxTokens = 8) => new()
    {
        MaxOutputTokens = maxTokens,
        AdditionalProperties = new() { [Gpt2ChatOptions.LogProbabilitiesKey] = true, [Gpt2ChatOptions.TopLogProbabilitiesKey] = top },
    };

    private static IReadOnlyList<GeneratedTokenLogProbability> LogProbabilitiesOf(AdditionalPropertiesDictionary? properties) =>
        Assert.IsInstanceOfType<IReadOnlyList<GeneratedTokenLogProbability>>(properties?[Gpt2ChatOptions.LogProbabilitiesKey]);

    [TestMethod]
    public async Task GreedyLogProbabilitiesAreLogSoftmaxOfTheModelsLogitsWithTheTopAlternativesInOrder()
    {
        ChatResponse response = await _client.GetResponseAsync([new ChatMessage(ChatRole.User, Prompt)], Asking(top: 3));

        IReadOnlyList<GeneratedTokenLogProbability> tokens = LogProbabilitiesOf(response.AdditionalProperties);
        TextGenerationResult result = Assert.IsInstanceOfType<TextGenerationResult>(response.RawRepresentation);
        Assert.AreSame(result.LogProbabilities, tokens);
        Assert.HasCount(8, tokens);
        Assert.AreEqual(response.Text, _client.Service.Tokenizer.Decode(tokens.Select(t => t.TokenId)), "one entry per token of the answer");

        int[] prompt = _client.Service.Tokenizer.Encode(Prompt);
        float[][] oracle = LogSoftmaxAfterEachPrefix(prompt, [.. tokens.Select(t => t.TokenId)]);
        for (int i = 0; i < tokens.Count; i++)
        {
            int[] expectedTop = [.. oracle[i].Select((value, id) => (value, id)).OrderByDescending(p => p.value).Take(3).Select(p => p.id)];
            Assert.AreEqual(expectedTop[0], tokens[i].TokenId, $"token {i} is the greedy choice");
            Assert.AreEqual(oracle[i][tokens[i].TokenId], tokens[i].LogProbability, 1e-4, $"token {i}");
            CollectionAssert.AreEqual(expectedTop, tokens[i].TopLogProbabilities.Select(t => t.TokenId).ToArray(), $"token {i}'s top 3, most likely first");
            foreach (TokenLogProbability alternative in tokens[i].TopLogProbabilities)
                Assert.AreEqual(oracle[i][alternative.TokenId], alternative.LogProbability, 1e-4);
        }
    }

    [TestMethod]
    public async Task StreamedUpdatesCarryTheLogProbabilitiesOfTheirTokensAndTogetherTheWholeAnswers()
    {
        ChatResponse whole = await _client.GetResponseAsync([new ChatMessage(ChatRole.User, Prompt)], Asking(top: 2, maxTokens: 12));
        IReadOnlyList<GeneratedTokenLogProbability> expected = LogProbabilitiesOf(whole.AdditionalProperties);
        Assert.HasCount(12, expected);

        var streamed = new List<GeneratedTokenLogProbability>();
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, Prompt)], Asking(top: 2, maxTokens: 12)))
        {
            updates.Add(update);
            if (update.AdditionalProperties?.ContainsKey(Gpt2ChatOptions.LogProbabilitiesKey) is true)
            {
                IReadOnlyList<GeneratedTokenLogProbability> tokens = LogProbabilitiesOf(update.AdditionalProperties);
                Assert.IsInstanceOfType<TextGenerationUpdate>(update.RawRepresentation);
                Assert.AreSame(((TextGenerationUpdate)update.RawRepresentation!).LogProbabilities, tokens);
                streamed.AddRange(tokens);
            }
        }

        Assert.AreEqual(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.IsInstanceOfType<TextGenerationResult>(updates[^1].RawRepresentation, "the last update, with usage, carries the result");
        CollectionAssert.AreEqual(expected.Select(t => t.TokenId).ToArray(), streamed.Select(t => t.TokenId).ToArray());
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.AreEqual(expected[i].LogProbability, streamed[i].LogProbability, 1e-5);
            CollectionAssert.AreEqual(expected[i].TopLogProbabilities.Select(t => t.TokenId).ToArray(), streamed[i].TopLogProbabilities.Select(t => t.TokenId).ToArray());
        }
    }

    [TestMethod]
    public async Task NothingIsSaidUnlessAskedButTheRawRepresentationIsAlwaysTheResult()
    {
        ChatResponse response = await _client.GetResponseAsync([new ChatMessage(ChatRole.User, Prompt)], new ChatOptions { MaxOutputTokens = 4 });

        Assert.IsFalse(response.AdditionalProperties?.ContainsKey(Gpt2ChatOptions.LogProbabilitiesKey) is true);
        Assert.IsNull(Assert.IsInstanceOfType<TextGenerationResult>(response.RawRepresentation).LogProbabilities);
        await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, Prompt)], new ChatOptions { MaxOutputTokens = 4 }))
            Assert.IsFalse(update.AdditionalProperties?.ContainsKey(Gpt2ChatOptions.LogProbabilitiesKey) is true);
    }

    // Row i: log-softmax of the logits that chose generated[i], from one forward pass over the prompt and the answer.
    private static float[][] LogSoftmaxAfterEachPrefix(int[] prompt, int[] generated)
    {
        using IDisposable noGrad = no_grad();
        using var scope = NewDisposeScope();
        long[] ids = [.. prompt.Concat(generated[..^1]).Select(t => (long)t)];
        Tensor logits = _model.forward(tensor(ids, dtype: ScalarType.Int64).unsqueeze(0));
        Tensor logProbabilities = nn.functional.log_softmax(logits[0].to(ScalarType.Float64), dim: -1).to(ScalarType.Float32);
        return [.. Enumerable.Range(0, generated.Length).Select(i => logProbabilities[prompt.Length - 1 + i].data<float>().ToArray())];
    }
}
