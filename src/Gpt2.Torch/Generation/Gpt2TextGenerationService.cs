using System.Runtime.CompilerServices;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Text in, text out with a <see cref="Gpt2Model"/>: the one place where prompts are tokenized and cropped to the
/// context, and generated tokens become text (up to <c>&lt;|endoftext|&gt;</c> or a stop string), whole or streamed,
/// one prompt or a batch. The ML.NET generators and the AI abstractions (Gpt2MLNet.AI) build on it.
/// </summary>
/// <remarks>
/// <para>A prompt longer than the context length minus <see cref="GenerationOptions.MaxNewTokens"/> keeps its last
/// tokens; <see cref="TextGenerationResult.DroppedPromptTokenCount"/> says how many were cut. Prompts are encoded as
/// plain text: <c>&lt;|endoftext|&gt;</c> written in a prompt is text, not the special token.</para>
/// <para>Concurrent calls are serialized (TorchSharp modules are not thread-safe): one generation, or one batch, runs at a
/// time, and the others wait their turn. To generate for several prompts at once, pass them to <see cref="GenerateBatch"/>.
/// With continuous batching (the constructor's <c>continuousBatching</c>), <see cref="GenerateAsync(string, GenerationOptions?, CancellationToken)"/> and
/// <see cref="GenerateStreamingAsync(string, GenerationOptions?, CancellationToken)"/> calls instead join one running batch at its next step and leave it as they
/// finish, sharing each forward pass; each greedy answer equals what the call gets alone.</para>
/// </remarks>
public sealed class Gpt2TextGenerationService : IDisposable
{
    private readonly Gpt2Generator _generator;
    private readonly bool _ownsModel;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ContinuousBatcher? _batcher;

    /// <summary>A service over <paramref name="model"/>.</summary>
    /// <param name="model">The model; it is put in evaluation mode while generating.</param>
    /// <param name="tokenizer">GPT-2's tokenizer (<see cref="Gpt2Tokenizer.Default"/> when null).</param>
    /// <param name="ownsModel">Whether disposing the service disposes the model.</param>
    /// <param name="continuousBatching">
    /// Whether concurrent <see cref="GenerateAsync(string, GenerationOptions?, CancellationToken)"/> and <see cref="GenerateStreamingAsync(string, GenerationOptions?, CancellationToken)"/> calls share a running batch
    /// (a background loop decodes them together) instead of waiting for each other.
    /// </param>
    /// <param name="onnxRuntime">
    /// Run the forward passes in ONNX Runtime (see <see cref="OnnxRuntimeDecoding"/>: the model's weights as they are now),
    /// with or without continuous batching; TorchSharp when null.
    /// </param>
    public Gpt2TextGenerationService(Gpt2Model model, Gpt2Tokenizer? tokenizer = null, bool ownsModel = false, bool continuousBatching = false,
        OnnxRuntimeDecoding? onnxRuntime = null)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer ?? Gpt2Tokenizer.Default;
        _ownsModel = ownsModel;
        _generator = new Gpt2Generator(model, Tokenizer.Tokenizer, onnxRuntime);
        if (continuousBatching)
            _batcher = new ContinuousBatcher(model, Tokenizer, _gate, _generator.OnnxRuntimeSession is { } session
                ? new OnnxRuntimeContinuousBatchEngine(session)
                : new TorchContinuousBatchEngine(model));
    }

    /// <summary>
    /// A service over the model of <paramref name="source"/> (a preset, Hugging Face id or folder, random weights, or a
    /// model in memory): a loaded model is owned by the service; a model in memory stays its owner's.
    /// </summary>
    public static Gpt2TextGenerationService Load(Gpt2ModelSource source, Device? device = null) => Load(source, device, continuousBatching: false);

    /// <summary>
    /// A service over the model of <paramref name="source"/>, with or without continuous batching of concurrent
    /// asynchronous calls, in TorchSharp or ONNX Runtime (see the constructor).
    /// </summary>
    public static Gpt2TextGenerationService Load(Gpt2ModelSource source, Device? device, bool continuousBatching, OnnxRuntimeDecoding? onnxRuntime = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        Gpt2Model model = source.Load(device);
        try
        {
            return new Gpt2TextGenerationService(model, ownsModel: !source.IsInMemory, continuousBatching: continuousBatching, onnxRuntime: onnxRuntime);
        }
        catch
        {
            if (!source.IsInMemory)
                model.Dispose();
            throw;
        }
    }

    /// <summary>Whether the forward passes run in ONNX Runtime (see the constructor).</summary>
    public bool UsesOnnxRuntime => _generator.UsesOnnxRuntime;

    /// <summary>Whether concurrent asynchronous calls share a running batch (see the constructor).</summary>
    public bool ContinuousBatching => _batcher is not null;

    /// <summary>The most generations the continuous batch has decoded together so far; 0 without continuous batching.</summary>
    public int PeakContinuousBatchSize => _batcher?.PeakBatchSize ?? 0;

    /// <summary>The model that writes.</summary>
    public Gpt2Model Model { get; }

    /// <summary>The tokenizer of prompts and generated tokens.</summary>
    public Gpt2Tokenizer Tokenizer { get; }

    /// <summary>The continuation of <paramref name="prompt"/>.</summary>
    /// <param name="prompt">At least one character.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null.</param>
    /// <param name="cancellationToken">Stops generation at the next token (it throws <see cref="OperationCanceledException"/>).</param>
    public TextGenerationResult Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return GenerateBatch([prompt], options, cancellationToken)[0];
    }

    /// <summary>The continuation of <paramref name="prompt"/>, generated on a thread-pool thread.</summary>
    /// <param name="prompt">At least one character.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null.</param>
    /// <param name="cancellationToken">Stops generation at the next token, or the wait for an earlier call to finish.</param>
    public Task<TextGenerationResult> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        int[][] ids = EncodePrompts([prompt], options, out int[] dropped);
        if (_batcher is not null)
            return Batched(ids[0], dropped[0], options, cancellationToken);
        return Task.Run(async () =>
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return Run(ids, dropped, options, cancellationToken)[0];
            }
            finally
            {
                _gate.Release();
            }
        }, cancellationToken);
    }

    /// <summary>
    /// The continuation of a prompt already tokenized with <see cref="Tokenizer"/>, generated on a thread-pool thread: for
    /// a caller that needs the token count before generating (to check it against the context), so that the prompt is
    /// tokenized once. A prompt longer than the context minus <see cref="GenerationOptions.MaxNewTokens"/> keeps its
    /// last tokens, as with a text prompt.
    /// </summary>
    /// <param name="promptTokens">At least one token id of the tokenizer's vocabulary.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null.</param>
    /// <param name="cancellationToken">Stops generation at the next token, or the wait for an earlier call to finish.</param>
    public Task<TextGenerationResult> GenerateAsync(IReadOnlyList<int> promptTokens, GenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        int[] ids = CropTokens(promptTokens, options, out int dropped);
        if (_batcher is not null)
            return Batched(ids, dropped, options, cancellationToken);
        return Task.Run(async () =>
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return Run([ids], [dropped], options, cancellationToken)[0];
            }
            finally
            {
                _gate.Release();
            }
        }, cancellationToken);
    }

    /// <summary>
    /// The continuation of each prompt, generated together in one left-padded batch with the key/value cache; each row
    /// stops on its own. Greedy rows equal what <see cref="Generate"/> writes for each prompt alone.
    /// </summary>
    /// <param name="prompts">One or more prompts, each of at least one character.</param>
    /// <param name="options">Sampling and stopping, shared by the rows; <see cref="GenerationOptions"/>' defaults when null.</param>
    /// <param name="cancellationToken">Stops generation at the next token (it throws <see cref="OperationCanceledException"/>).</param>
    public IReadOnlyList<TextGenerationResult> GenerateBatch(IReadOnlyList<string> prompts, GenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        int[][] ids = EncodePrompts(prompts, options, out int[] dropped);
        _gate.Wait(cancellationToken);
        try
        {
            return Run(ids, dropped, options, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The continuation of <paramref name="prompt"/> as pieces of text, handed out as the model writes them (it runs on a
    /// thread-pool thread): whole characters only, never part of a stop string, concatenating to exactly the text
    /// <see cref="Generate"/> returns. The stream's <see cref="TextGenerationStream.Result"/> holds the counts and finish
    /// reason once it has been enumerated.
    /// </summary>
    /// <param name="prompt">At least one character.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null. Checked now, not at enumeration.</param>
    /// <param name="cancellationToken">Stops generation at the next token; leaving the loop early stops it too.</param>
    public TextGenerationStream GenerateStreamingAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        int[] ids = EncodePrompts([prompt], options, out int[] dropped)[0];
        if (_batcher is not null)
            return new TextGenerationStream((stream, enumeratorToken) => BatchedStream(stream, ids, dropped[0], options, cancellationToken, enumeratorToken));
        return new TextGenerationStream((stream, enumeratorToken) => Stream(stream, ids, dropped[0], options, cancellationToken, enumeratorToken));
    }

    /// <summary>
    /// The continuation of a prompt already tokenized with <see cref="Tokenizer"/>, streamed as
    /// <see cref="GenerateStreamingAsync(string, GenerationOptions?, CancellationToken)"/> streams a text prompt's.
    /// </summary>
    /// <param name="promptTokens">At least one token id of the tokenizer's vocabulary.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null. Checked now, not at enumeration.</param>
    /// <param name="cancellationToken">Stops generation at the next token; leaving the loop early stops it too.</param>
    public TextGenerationStream GenerateStreamingAsync(IReadOnlyList<int> promptTokens, GenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        int[] ids = CropTokens(promptTokens, options, out int dropped);
        if (_batcher is not null)
            return new TextGenerationStream((stream, enumeratorToken) => BatchedStream(stream, ids, dropped, options, cancellationToken, enumeratorToken));
        return new TextGenerationStream((stream, enumeratorToken) => Stream(stream, ids, dropped, options, cancellationToken, enumeratorToken));
    }

    /// <summary>
    /// Stops the continuous batch (its unfinished generations fail), frees the ONNX Runtime session, if any, and disposes
    /// the model when the service owns it.
    /// </summary>
    public void Dispose()
    {
        _batcher?.Dispose();
        _generator.Dispose();
        if (_ownsModel)
            Model.Dispose();
        _gate.Dispose();
    }

    private async IAsyncEnumerable<TextGenerationUpdate> Stream(TextGenerationStream stream, int[] ids, int dropped, GenerationOptions options,
        CancellationToken callToken, [EnumeratorCancellation] CancellationToken enumeratorToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callToken, enumeratorToken);
        CancellationToken cancellationToken = linked.Token;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var decoder = new TextStreamDecoder(Tokenizer, options);
            await foreach (int token in _generator.GenerateStreamingAsync(ids, options, cancellationToken).ConfigureAwait(false))
            {
                string piece = decoder.Add(token);
                if (piece.Length > 0)
                    yield return new TextGenerationUpdate(piece, []);
                if (decoder.FinishReason is not null)
                    break;
            }
            string rest = decoder.Complete();
            if (rest.Length > 0)
                yield return new TextGenerationUpdate(rest, []);
            stream.Result = Result(decoder, ids.Length, dropped);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<TextGenerationResult> Batched(int[] ids, int dropped, GenerationOptions options, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<TextGenerationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pieces = _batcher!.Submit(ids, dropped, options, done, cancellationToken);
        await foreach (string _ in pieces.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
        }
        return await done.Task.ConfigureAwait(false);
    }

    private async IAsyncEnumerable<TextGenerationUpdate> BatchedStream(TextGenerationStream stream, int[] ids, int dropped, GenerationOptions options,
        CancellationToken callToken, [EnumeratorCancellation] CancellationToken enumeratorToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callToken, enumeratorToken);
        var done = new TaskCompletionSource<TextGenerationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pieces = _batcher!.Submit(ids, dropped, options, done, linked.Token);
        try
        {
            await foreach (string piece in pieces.ReadAllAsync(linked.Token).ConfigureAwait(false))
                yield return new TextGenerationUpdate(piece, []);
            stream.Result = await done.Task.ConfigureAwait(false);
        }
        finally
        {
            linked.Cancel();   // a caller that leaves early takes its row out of the batch at the next step
        }
    }

    // Called under the gate.
    private TextGenerationResult[] Run(int[][] ids, int[] dropped, GenerationOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int[][] rows = _generator.GenerateBatch(ids, options, (_, _) => cancellationToken.ThrowIfCancellationRequested());
        var results = new TextGenerationResult[rows.Length];
        for (int row = 0; row < rows.Length; row++)
        {
            var decoder = new TextStreamDecoder(Tokenizer, options);
            for (int t = ids[row].Length; t < rows[row].Length && decoder.FinishReason is null; t++)
                decoder.Add(rows[row][t]);
            decoder.Complete();
            results[row] = Result(decoder, ids[row].Length, dropped[row]);
        }
        return results;
    }

    private static TextGenerationResult Result(TextStreamDecoder decoder, int promptTokens, int dropped) =>
        new(decoder.Text, decoder.FinishReason!.Value, promptTokens, decoder.TokenCount, dropped);

    // Validates the options and tokenizes the prompts, keeping each one's last context length minus MaxNewTokens tokens.
    private int[][] EncodePrompts(IReadOnlyList<string> prompts, GenerationOptions options, out int[] dropped)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(Model.Config.ContextLength);
        if (prompts.Count == 0)
            throw new ArgumentException("Give at least one prompt.", nameof(prompts));
        int room = Model.Config.ContextLength - options.MaxNewTokens;
        dropped = new int[prompts.Count];
        var ids = new int[prompts.Count][];
        for (int row = 0; row < prompts.Count; row++)
        {
            if (string.IsNullOrEmpty(prompts[row]))
                throw new ArgumentException(
                    $"Prompt {row} is empty; GPT-2 needs at least one token to continue, so give some text to start from.", nameof(prompts));
            int[] all = Tokenizer.Encode(prompts[row]);
            dropped[row] = Math.Max(0, all.Length - room);
            ids[row] = dropped[row] == 0 ? all : all[dropped[row]..];
        }
        return ids;
    }

    // Validates the options and the ids, and keeps the last context length minus MaxNewTokens of them (a copy, so that
    // the caller may reuse its list while the generation runs).
    private int[] CropTokens(IReadOnlyList<int> promptTokens, GenerationOptions options, out int dropped)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(Model.Config.ContextLength);
        if (promptTokens.Count == 0)
            throw new ArgumentException("The prompt has no tokens; GPT-2 needs at least one token to continue.", nameof(promptTokens));
        int[] all = [.. promptTokens];
        Model.Config.CheckTokenIds(all, nameof(promptTokens), "the prompt");
        dropped = Math.Max(0, all.Length - (Model.Config.ContextLength - options.MaxNewTokens));
        return dropped == 0 ? all : all[dropped..];
    }
}
