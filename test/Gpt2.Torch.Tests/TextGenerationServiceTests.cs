using System.Text;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Tests;

/// <summary>
/// <see cref="Gpt2TextGenerationService"/> on a tiny random GPT-2 with GPT-2's vocabulary, and its detokenizer fed byte
/// tokens directly (a random model rarely writes the byte tokens of an emoji in order).
/// </summary>
[TestClass]
public sealed class TextGenerationServiceTests
{
    private static Gpt2Model _model = null!;
    private static Gpt2TextGenerationService _service = null!;
    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 12 };
    private static readonly string[] Prompts = ["Every effort moves you", "Emoji 😀🎉 and", "中文的句子是", "x"];

    [ClassInitialize]
    public static void CreateModel(TestContext _)
    {
        manual_seed(1234);
        _model = new Gpt2Model(new Gpt2Config { ContextLength = 64, EmbeddingSize = 32, HeadCount = 2, LayerCount = 2, Dropout = 0 }, CPU);
        _service = new Gpt2TextGenerationService(_model);
    }

    [ClassCleanup]
    public static void Release() => _service.Dispose();

    private static async Task<(List<string> Pieces, TextGenerationResult Result)> Stream(string prompt, GenerationOptions options,
        CancellationToken cancellationToken = default)
    {
        TextGenerationStream stream = _service.GenerateStreamingAsync(prompt, options, cancellationToken);
        var pieces = new List<string>();
        await foreach (string piece in stream)
            pieces.Add(piece);
        return (pieces, stream.Result!);
    }

    // The byte-level tokens of a text: one token per UTF-8 byte, as GPT-2 writes characters it has no merge for.
    private static int[] ByteTokens(string text)
    {
        var byteToId = new Dictionary<byte, int>();
        for (int id = 0; id < Gpt2Tokenizer.EndOfTextTokenId; id++)
        {
            ReadOnlySpan<byte> bytes = Gpt2Tokenizer.Default.TokenBytes(id);
            if (bytes.Length == 1)
                byteToId.TryAdd(bytes[0], id);
        }
        return [.. Encoding.UTF8.GetBytes(text).Select(b => byteToId[b])];
    }

    private static bool IsWholeUtf16(string piece) =>
        piece.Length > 0 && !char.IsLowSurrogate(piece[0]) && !char.IsHighSurrogate(piece[^1]) && !piece.Contains('\uFFFD');

    [TestMethod]
    public async Task DecodingThroughOnnxRuntimeWritesTheSameTextWholeStreamedAndBatched()
    {
        using var onnx = new Gpt2TextGenerationService(_model, onnxRuntime: new OnnxRuntimeDecoding());
        var options = Greedy with { StopStrings = ["e"] };

        IReadOnlyList<TextGenerationResult> expected = _service.GenerateBatch(Prompts, options);
        IReadOnlyList<TextGenerationResult> batched = onnx.GenerateBatch(Prompts, options);
        TextGenerationStream stream = onnx.GenerateStreamingAsync(Prompts[0], options);
        var streamed = new StringBuilder();
        await foreach (string piece in stream)
            streamed.Append(piece);

        Assert.IsTrue(onnx.UsesOnnxRuntime);
        Assert.IsFalse(_service.UsesOnnxRuntime);
        CollectionAssert.AreEqual(expected.ToArray(), batched.ToArray());
        Assert.AreEqual(expected[0], stream.Result);
        Assert.AreEqual(expected[0].Text, streamed.ToString());
    }

    [TestMethod]
    public void TheTextIsTheDecodedGeneratedTokensWithTheirCounts()
    {
        foreach (string prompt in Prompts)
        {
            int[] ids = Gpt2Tokenizer.Default.Encode(prompt);
            int[] output = new Gpt2Generator(_model).Generate(ids, Greedy);
            TextGenerationResult result = _service.Generate(prompt, Greedy);

            Assert.AreEqual(Gpt2Tokenizer.Default.Decode(output[ids.Length..]), result.Text, prompt);
            Assert.AreEqual(ids.Length, result.PromptTokenCount, prompt);
            Assert.AreEqual(output.Length - ids.Length, result.CompletionTokenCount, prompt);
            Assert.AreEqual(TextGenerationFinishReason.Length, result.FinishReason, prompt);
            Assert.IsFalse(result.PromptWasTruncated, prompt);
        }
    }

    [TestMethod]
    public async Task StreamedPiecesConcatenateToTheTextAndHoldWholeCharacters()
    {
        foreach (string prompt in Prompts)
        {
            TextGenerationResult expected = _service.Generate(prompt, Greedy);
            (List<string> pieces, TextGenerationResult result) = await Stream(prompt, Greedy);
            Assert.AreEqual(expected.Text, string.Concat(pieces), prompt);
            Assert.AreEqual(expected, result, prompt);
            foreach (string piece in pieces)
                Assert.IsTrue(piece.Length > 0 && !char.IsLowSurrogate(piece[0]) && !char.IsHighSurrogate(piece[^1]), $"'{piece}' splits a character");
        }
    }

    [TestMethod]
    [DataRow("Emoji: 😀🎉👍🏽 done")]
    [DataRow("中文的句子，日本語のテキスト、한국어")]
    [DataRow("mixed é ü ß 😀 世界")]
    public void ByteTokensOfEmojiAndCjkAreReleasedOnlyAsWholeCharacters(string text)
    {
        var decoder = new StopChecker(Gpt2Tokenizer.Default, new GenerationOptions());
        var pieces = new List<string>();
        foreach (int token in ByteTokens(text))
        {
            string piece = decoder.Add(token);
            if (piece.Length > 0)
                pieces.Add(piece);
        }
        pieces.Add(decoder.Complete());
        pieces.RemoveAll(piece => piece.Length == 0);

        Assert.AreEqual(text, string.Concat(pieces));
        Assert.AreEqual(text, Gpt2Tokenizer.Default.Decode(ByteTokens(text)), "the tokenizer agrees");
        foreach (string piece in pieces)
            Assert.IsTrue(IsWholeUtf16(piece), $"'{piece}' holds part of a character");
        Assert.IsGreaterThan(text.Count(c => !char.IsLowSurrogate(c)) - 1, pieces.Count, "each character is released as soon as it is whole");
    }

    [TestMethod]
    public void AStopStringSpanningTokensIsNeverPartlyReleased()
    {
        var options = new GenerationOptions { StopStrings = ["STOP😀", "zz"] };
        var decoder = new StopChecker(Gpt2Tokenizer.Default, options);
        var released = new StringBuilder();
        foreach (int token in ByteTokens("abc STx STO STOP😀 tail"))
        {
            released.Append(decoder.Add(token));
            // Released text is never taken back, so it must never run past the text before the stop.
            Assert.IsTrue("abc STx STO ".StartsWith(released.ToString(), StringComparison.Ordinal), $"'{released}' runs into the stop string");
            if (decoder.FinishReason is not null)
                break;
        }
        released.Append(decoder.Complete());
        Assert.AreEqual("abc STx STO ", released.ToString());
        Assert.AreEqual("abc STx STO ", decoder.Text);
        Assert.AreEqual(TextGenerationFinishReason.StopString, decoder.FinishReason);
        Assert.AreEqual(Encoding.UTF8.GetByteCount("abc STx STO STOP😀"), decoder.TokenCount, "the token that completes the stop is counted");
    }

    [TestMethod]
    public void EndOfTextEndsTheTextAndIsCounted()
    {
        var decoder = new StopChecker(Gpt2Tokenizer.Default, new GenerationOptions());
        int[] tokens = [.. Gpt2Tokenizer.Default.Encode("Hello there"), Gpt2Tokenizer.EndOfTextTokenId];
        string text = string.Concat(tokens.Select(decoder.Add));
        Assert.AreEqual("Hello there", text);
        Assert.AreEqual(TextGenerationFinishReason.EndOfText, decoder.FinishReason);
        Assert.AreEqual(tokens.Length, decoder.TokenCount);

        var keep = new StopChecker(Gpt2Tokenizer.Default, new GenerationOptions { StopAtEndOfText = false });
        Assert.AreEqual("Hello there<|endoftext|>", string.Concat(tokens.Select(keep.Add)) + keep.Complete());
    }

    [TestMethod]
    public async Task StopStringsEndTheTextBeforeThemStreamedOrNot()
    {
        var longer = Greedy with { MaxNewTokens = 30 };
        TextGenerationResult full = _service.Generate(Prompts[0], longer);
        Assert.IsGreaterThan(6, full.Text.Length, "the random model writes some text");
        string stop = full.Text.Substring(full.Text.Length / 2, 3);
        string expected = full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)];

        TextGenerationResult stopped = _service.Generate(Prompts[0], longer with { StopStrings = [stop] });
        Assert.AreEqual(expected, stopped.Text);
        Assert.AreEqual(TextGenerationFinishReason.StopString, stopped.FinishReason);
        Assert.IsLessThan(30, stopped.CompletionTokenCount, "generation stops at the stop string");
        (List<string> pieces, TextGenerationResult streamed) = await Stream(Prompts[0], longer with { StopStrings = [stop] });
        Assert.AreEqual(expected, string.Concat(pieces));
        Assert.AreEqual(stopped, streamed);
    }

    [TestMethod]
    public void ALongPromptKeepsItsLastTokensAndSaysHowManyWereDropped()
    {
        string prompt = string.Join(' ', Enumerable.Range(0, 80).Select(i => $"w{i}"));
        int[] ids = Gpt2Tokenizer.Default.Encode(prompt);
        int room = 64 - Greedy.MaxNewTokens;
        TextGenerationResult result = _service.Generate(prompt, Greedy);

        Assert.AreEqual(room, result.PromptTokenCount);
        Assert.AreEqual(ids.Length - room, result.DroppedPromptTokenCount);
        Assert.IsTrue(result.PromptWasTruncated);
        int[] output = new Gpt2Generator(_model).Generate(ids[^room..], Greedy);
        Assert.AreEqual(Gpt2Tokenizer.Default.Decode(output[room..]), result.Text);
    }

    [TestMethod]
    public async Task APromptGivenAsTokenIdsIsAnsweredAsItsTextIsWholeAndStreamed()
    {
        string longPrompt = string.Join(' ', Enumerable.Range(0, 80).Select(i => $"w{i}"));
        foreach (string prompt in (string[])[.. Prompts, longPrompt])
        {
            TextGenerationResult expected = _service.Generate(prompt, Greedy);
            int[] ids = Gpt2Tokenizer.Default.Encode(prompt);
            Assert.AreEqual(expected, await _service.GenerateAsync(ids, Greedy), prompt);

            TextGenerationStream stream = _service.GenerateStreamingAsync(ids, Greedy);
            var text = new StringBuilder();
            await foreach (string piece in stream)
                text.Append(piece);
            Assert.AreEqual(expected.Text, text.ToString(), prompt);
            Assert.AreEqual(expected, stream.Result, prompt);
        }
        Assert.IsTrue(_service.Generate(longPrompt, Greedy).PromptWasTruncated, "the long prompt is cropped the same way from ids");
    }

    [TestMethod]
    public void TokenIdsThatCannotBeAPromptAreRejectedWithTheReason()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => _service.GenerateAsync(Array.Empty<int>(), Greedy)).Message, "no tokens");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _service.GenerateStreamingAsync([15, 50257], Greedy)).Message, "50257");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _service.GenerateAsync([-1], Greedy));
    }

    [TestMethod]
    public void EachRowOfABatchEqualsItsPromptAlone()
    {
        IReadOnlyList<TextGenerationResult> batch = _service.GenerateBatch(Prompts, Greedy);
        for (int row = 0; row < Prompts.Length; row++)
            Assert.AreEqual(_service.Generate(Prompts[row], Greedy), batch[row], Prompts[row]);
    }

    [TestMethod]
    public async Task ConcurrentCallersAreServedOneAtATimeWithTheirOwnResults()
    {
        TextGenerationResult[] expected = [.. Prompts.Select(prompt => _service.Generate(prompt, Greedy))];
        Task<TextGenerationResult>[] calls = [.. Prompts.Select(prompt => _service.GenerateAsync(prompt, Greedy))];
        Task<(List<string>, TextGenerationResult)>[] streams = [.. Prompts.Select(prompt => Task.Run(() => Stream(prompt, Greedy)))];
        CollectionAssert.AreEqual(expected, await Task.WhenAll(calls));
        CollectionAssert.AreEqual(expected, (await Task.WhenAll(streams)).Select(s => s.Item2).ToArray());
    }

    [TestMethod]
    public async Task CancellationStopsGenerationAtTheNextToken()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        Assert.ThrowsExactly<OperationCanceledException>(() => _service.Generate(Prompts[0], Greedy, cancelled.Token));

        using var cancellation = new CancellationTokenSource();
        var pieces = new List<string>();
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (string piece in _service.GenerateStreamingAsync(Prompts[0], Greedy with { MaxNewTokens = 40 }, cancellation.Token))
            {
                pieces.Add(piece);
                await cancellation.CancelAsync();
            }
        });
        Assert.HasCount(1, pieces);
        Assert.AreEqual(Prompts.Length, _service.GenerateBatch(Prompts, Greedy).Count, "the service is free again");
    }

    [TestMethod]
    public void BadRequestsAreRejectedWithTheReason()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => _service.Generate("", Greedy)).Message, "empty");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => _service.Generate("x", Greedy with { MaxNewTokens = 64 })).Message, "context length");
        Assert.ThrowsExactly<ArgumentException>(() => _service.GenerateStreamingAsync("x", Greedy with { StopStrings = [""] }));
        TextGenerationStream stream = _service.GenerateStreamingAsync("x", Greedy);
        _ = stream.GetAsyncEnumerator();
        Assert.ThrowsExactly<InvalidOperationException>(() => stream.GetAsyncEnumerator());
    }
}
