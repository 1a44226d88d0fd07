using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Gpt2.Torch.Model;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Autoregressive decoding with a <see cref="Gpt2Model"/>: one prompt or a batch of prompts of different lengths,
/// with the key/value cache, every option of <see cref="GenerationOptions"/>, and the tokens streamed as they come.
/// </summary>
/// <remarks>
/// When a prompt plus its output outgrow the context, the model sees a window of the last tokens: the last
/// context-length tokens of the prompt at first, then, each time the window is full, its last half. With the cache a
/// jump costs one half-context prefill, where sliding the window by one token would cost a full-context prefill for
/// every token; cached and uncached decoding follow the same rule, so their greedy outputs are identical.
/// Every row of a batch gets exactly the tokens it would get alone when decoding is greedy. See
/// <see cref="GenerationOptions"/> for when generation stops. The forward passes run in TorchSharp, or in ONNX Runtime
/// with <see cref="OnnxRuntimeDecoding"/> (faster on a CPU; see there).
/// </remarks>
public sealed class Gpt2Generator : IDisposable
{
    private readonly Gpt2Model _model;
    private readonly Tokenizer? _tokenizer;
    private readonly OnnxRuntimeDecoderSession? _onnxRuntime;

    /// <summary>Creates a generator over <paramref name="model"/>.</summary>
    /// <param name="model">The model; it is put in evaluation mode while generating and restored afterwards.</param>
    /// <param name="tokenizer">Decodes tokens to match <see cref="GenerationOptions.StopStrings"/>; needed only for them.</param>
    /// <param name="onnxRuntime">
    /// Run the forward passes in ONNX Runtime: the model's current weights are exported into a session now (seconds for
    /// 124M) and kept until the generator is disposed. TorchSharp when null.
    /// </param>
    public Gpt2Generator(Gpt2Model model, Tokenizer? tokenizer = null, OnnxRuntimeDecoding? onnxRuntime = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _tokenizer = tokenizer;
        if (onnxRuntime is not null)
            _onnxRuntime = OnnxRuntimeDecoderSession.Create(model, onnxRuntime);
    }

    /// <summary>Whether the forward passes run in ONNX Runtime (<see cref="OnnxRuntimeDecoding"/>).</summary>
    public bool UsesOnnxRuntime => _onnxRuntime is not null;

    /// <summary>The ONNX Runtime session, shared with a service's continuous batch; null with TorchSharp.</summary>
    internal OnnxRuntimeDecoderSession? OnnxRuntimeSession => _onnxRuntime;

    /// <summary>Frees the ONNX Runtime session, if any; the model stays its owner's.</summary>
    public void Dispose() => _onnxRuntime?.Dispose();

    /// <summary>The prompt followed by up to <see cref="GenerationOptions.MaxNewTokens"/> generated tokens.</summary>
    /// <param name="prompt">At least one token.</param>
    /// <param name="options">Decoding and stopping options.</param>
    /// <param name="onToken">Called with each generated token as soon as it is chosen.</param>
    public int[] Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<int>? onToken = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return GenerateBatch([prompt], options, onToken is null ? null : (_, token) => onToken(token))[0];
    }

    /// <summary>
    /// Each prompt followed by its generated tokens, decoded together in one left-padded batch. Each row stops on its
    /// own; the batch ends when every row has stopped or reached <see cref="GenerationOptions.MaxNewTokens"/>.
    /// </summary>
    /// <param name="prompts">One or more prompts of any lengths, each of at least one token.</param>
    /// <param name="options">Decoding and stopping options, shared by all rows.</param>
    /// <param name="onToken">Called with (row, token) for each generated token, row by row within a step.</param>
    public int[][] GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options, Action<int, int>? onToken = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (prompts.Count == 0)
            throw new ArgumentException("Give at least one prompt.", nameof(prompts));
        for (int row = 0; row < prompts.Count; row++)
        {
            if (prompts[row] is null || prompts[row].Count == 0)
                throw new ArgumentException($"Prompt {row} holds no tokens; give at least one (for example <|endoftext|>, 50256).", nameof(prompts));
            _model.Config.CheckTokenIds([.. prompts[row]], nameof(prompts), prompts.Count == 1 ? "the prompt" : $"prompt {row}");
        }
        var stop = new StopCondition(options, _tokenizer);
        List<int>[] rows = [.. prompts.Select(prompt =>
        {
            var row = new List<int>(prompt.Count + options.MaxNewTokens);
            row.AddRange(prompt);
            return row;
        })];
        int[] promptLengths = [.. prompts.Select(prompt => prompt.Count)];
        var finished = new bool[rows.Length];

        using var inference = new InferenceScope(_model);
        TokenSampler[] samplers = [.. rows.Select(_ => new TokenSampler(options, _model.Device))];
        try
        {
            using IBatchDecoder decoder = _onnxRuntime is null
                ? new BatchDecoder(_model, rows, finished, options.UseCache, options.MaxNewTokens)
                : new OnnxRuntimeBatchDecoder(_onnxRuntime, rows, finished, options.UseCache);
            for (int step = 0; step < options.MaxNewTokens; step++)
            {
                using var scope = NewDisposeScope();
                Tensor logits = decoder.NextLogits();
                long[] tokens = samplers.All(sampler => sampler.IsPlainGreedy)
                    ? logits.argmax(-1).cpu().data<long>().ToArray()   // the step's one transfer to the host, for all rows
                    : [.. Enumerable.Range(0, rows.Length).Select(row => finished[row] ? 0L
                        : samplers[row].Next(logits.narrow(0, row, 1), rows[row], promptLengths[row]).TokenId)];
                for (int row = 0; row < rows.Length; row++)
                {
                    if (finished[row])
                        continue;
                    rows[row].Add((int)tokens[row]);
                    onToken?.Invoke(row, (int)tokens[row]);
                    finished[row] = stop.IsMet(rows[row], promptLengths[row]);
                }
                if (finished.All(f => f))
                    break;
                decoder.Advance(tensor(tokens, device: _model.Device));
            }
        }
        finally
        {
            foreach (TokenSampler sampler in samplers)
                sampler.Dispose();
        }
        return [.. rows.Select(row => row.ToArray())];
    }

    /// <summary>The generated tokens (not the prompt), as they are produced; generation runs on a thread-pool thread.</summary>
    /// <param name="prompt">At least one token.</param>
    /// <param name="options">Decoding and stopping options.</param>
    /// <param name="cancellationToken">Stops generation at the next token; leaving the loop early stops it too.</param>
    public async IAsyncEnumerable<int> GenerateStreamingAsync(IReadOnlyList<int> prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task producer = Task.Run(() =>
        {
            try
            {
                Generate(prompt, options, token =>
                {
                    stopping.Token.ThrowIfCancellationRequested();
                    channel.Writer.TryWrite(token);
                });
            }
            finally
            {
                channel.Writer.Complete();
            }
        }, CancellationToken.None);
        try
        {
            await foreach (int token in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();   // tokens already buffered are not handed out after cancellation
                yield return token;
            }
        }
        finally
        {
            stopping.Cancel();
            try
            {
                await producer.ConfigureAwait(false);   // rethrows the generator's own errors
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
        }
    }
}
