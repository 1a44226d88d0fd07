using System.Text;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// Text generation on a Llama-family model folder with its own Hugging Face tokenizer (<see cref="TinyFamilyModel"/>),
/// checked against greedy decoding done by hand with full forward passes of the model.
/// </summary>
[TestClass]
public sealed class FamilyGenerationTests
{
    private static string _folder = null!;
    private static Gpt2TextGenerationService _service = null!;
    private static readonly string[] Prompts = ["The weather in the north", "Hi", "an answer is in there, we see 12 ways"];

    [ClassInitialize]
    public static void WriteModel(TestContext _)
    {
        _folder = TinyFamilyModel.Write(TestPaths.NewTemporaryDirectory());
        _service = Gpt2TextGenerationService.Load(LanguageModelSource.Pretrained(_folder), CPU, DecodingEngine.TorchSharp);
    }

    [ClassCleanup]
    public static void Release()
    {
        _service.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    // Greedy decoding the plain way: the whole sequence through the model for every new token, no cache, no batching.
    private static List<int> HandGreedy(CausalLanguageModel model, IReadOnlyList<int> prompt, int maxNewTokens, int? stopId = null, double stopBias = 0)
    {
        var ids = new List<int>(prompt);
        var generated = new List<int>();
        using var _ = no_grad();
        for (int step = 0; step < maxNewTokens; step++)
        {
            using var scope = NewDisposeScope();
            Tensor logits = model.Forward(tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0))[0, -1].to(ScalarType.Float64);
            if (stopId is int stop)
                logits[stop] += stopBias;
            int next = (int)logits.argmax().item<long>();
            if (next == stopId)
                break;
            ids.Add(next);
            generated.Add(next);
        }
        return generated;
    }

    [TestMethod]
    public void TheFolderLoadsAsALlamaModelWithItsOwnTokenizer()
    {
        Assert.IsInstanceOfType<LlamaModel>(_service.Model);
        Assert.IsInstanceOfType<HuggingFaceTokenizer>(_service.Tokenizer);
        Assert.AreEqual(TinyFamilyModel.VocabSize, _service.Tokenizer.VocabSize);
        Assert.AreEqual(TinyFamilyModel.TurnEndId, _service.Tokenizer.EndOfTextId, "eos_token is <|im_end|>");
        Assert.AreEqual(TinyFamilyModel.EndOfTextId, _service.Tokenizer.PaddingId, "pad_token is <|endoftext|>");
        Assert.IsNull(_service.Tokenizer.BeginningOfTextId);
        Assert.AreEqual(TinyFamilyModel.ChatTemplate, _service.Tokenizer.ChatTemplate);
        // The merges apply: " the" is one token, and special tokens are read only when allowed.
        CollectionAssert.AreEqual(new[] { 256 + 2 }, _service.Tokenizer.Encode(" the"));
        CollectionAssert.AreEqual(new[] { TinyFamilyModel.TurnStartId }, _service.Tokenizer.Encode("<|im_start|>", allowSpecialTokens: true));
        Assert.AreEqual("<|im_start|>".Length, _service.Tokenizer.Encode("<|im_start|>").Length);
        Assert.AreEqual("Hé, the 😀", _service.Tokenizer.Decode(_service.Tokenizer.Encode("Hé, the 😀")));
    }

    [TestMethod]
    public void GreedyTextEqualsAHandGreedyLoopOfFullForwardPasses()
    {
        var options = new GenerationOptions { MaxNewTokens = 10, LogProbabilities = 0 };
        foreach (string prompt in Prompts)
        {
            TextGenerationResult result = _service.Generate(prompt, options);
            List<int> expected = HandGreedy(_service.Model, _service.Tokenizer.Encode(prompt), 10);
            CollectionAssert.AreEqual(expected, result.LogProbabilities!.Select(p => p.TokenId).ToList(), prompt);
            Assert.AreEqual(_service.Tokenizer.Decode(expected), result.Text, prompt);
            Assert.AreEqual(_service.Tokenizer.Encode(prompt).Length, result.PromptTokenCount);
            Assert.AreEqual(TextGenerationFinishReason.Length, result.FinishReason);
        }
    }

    [TestMethod]
    public async Task BatchedConcurrentAndStreamedRowsEqualEachPromptAlone()
    {
        var options = new GenerationOptions { MaxNewTokens = 10 };
        string[] solo = [.. Prompts.Select(p => _service.Generate(p, options).Text)];
        CollectionAssert.AreEqual(solo, _service.GenerateBatch(Prompts, options).Select(r => r.Text).ToArray(), "one batch");
        TextGenerationResult[] concurrent = await Task.WhenAll(Prompts.Select(p => _service.GenerateAsync(p, options)));
        CollectionAssert.AreEqual(solo, concurrent.Select(r => r.Text).ToArray(), "concurrent calls");
        for (int i = 0; i < Prompts.Length; i++)
        {
            TextGenerationStream stream = _service.GenerateStreamingAsync(Prompts[i], options);
            var text = new StringBuilder();
            int pieces = 0;
            await foreach (string piece in stream)
            {
                text.Append(piece);
                pieces++;
            }
            Assert.AreEqual(solo[i], text.ToString());
            Assert.IsTrue(pieces > 1, "the text comes in pieces");
            Assert.AreEqual(solo[i], stream.Result!.Text);
        }
    }

    [TestMethod]
    public void GenerationStopsAtTheTokenizersEndOfTurnToken()
    {
        // A random model never writes <|im_end|> by itself: a logit bias makes it the greedy choice at a later step, found
        // from the unbiased logits (the first step where its gap to the best token is a new low).
        int[] prompt = _service.Tokenizer.Encode(Prompts[0]);
        int stop = TinyFamilyModel.TurnEndId;
        var gaps = new List<double>();
        var ids = new List<int>(prompt);
        using (no_grad())
        {
            for (int step = 0; step < 12; step++)
            {
                using var scope = NewDisposeScope();
                Tensor logits = _service.Model.Forward(tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0))[0, -1].to(ScalarType.Float64);
                gaps.Add(logits.max().item<double>() - logits[stop].item<double>());
                ids.Add((int)logits.argmax().item<long>());
            }
        }
        int at = Enumerable.Range(1, gaps.Count - 1).First(i => gaps[i] < gaps.Take(i).Min());
        double bias = gaps[at] + Math.Min(1e-3, (gaps.Take(at).Min() - gaps[at]) / 2);

        var options = new GenerationOptions { MaxNewTokens = 12, LogitBias = new Dictionary<int, double> { [stop] = bias } };
        TextGenerationResult result = _service.Generate(Prompts[0], options);
        List<int> expected = HandGreedy(_service.Model, prompt, 12, stop, bias);
        Assert.AreEqual(at, expected.Count, "the hand loop stops where the gaps said");
        Assert.AreEqual(TextGenerationFinishReason.EndOfText, result.FinishReason);
        Assert.AreEqual(_service.Tokenizer.Decode(expected), result.Text);
        Assert.AreEqual(at + 1, result.CompletionTokenCount, "the <|im_end|> token counts but is not in the text");
        Assert.IsFalse(result.Text.Contains("<|im_end|>", StringComparison.Ordinal));
    }

    [TestMethod]
    public void ABfloat16CopyOfTheModelGeneratesTheTokensOfItsOwnHandGreedyLoop()
    {
        using CausalLanguageModel model = LanguageModelSource.Pretrained(_folder).Load(CPU);
        model.ToPrecision(Precision.BFloat16);
        Assert.AreEqual(Precision.BFloat16, model.Precision);
        using var service = new Gpt2TextGenerationService(model, _service.Tokenizer);
        TextGenerationResult result = service.Generate(Prompts[0], new GenerationOptions { MaxNewTokens = 6, LogProbabilities = 0 });
        Assert.AreEqual(6, result.CompletionTokenCount);
        CollectionAssert.AreEqual(HandGreedy(model, _service.Tokenizer.Encode(Prompts[0]), 6), result.LogProbabilities!.Select(p => p.TokenId).ToList());
    }
}
