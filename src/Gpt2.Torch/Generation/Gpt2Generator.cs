using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Token in, tokens out with a <see cref="CausalLanguageModel"/>: one prompt or a batch of prompts of different lengths, with
/// every option of <see cref="GenerationOptions"/>, and the tokens streamed as they come. An adapter over a
/// <see cref="LanguageModelHost"/> of its own, whose one decode loop does the work.
/// </summary>
/// <remarks>
/// When a prompt plus its output outgrow the context, the model sees a window of the last tokens: the last
/// context-length tokens of the prompt at first, then, each time the window is full, its last half (one half-context
/// prefill per jump, where sliding the window by one token would cost a full-context prefill for every token).
/// Every row of a batch gets exactly the tokens it would get alone when decoding is greedy. See
/// <see cref="GenerationOptions"/> for when generation stops. The forward passes run in TorchSharp, or in ONNX Runtime
/// with <see cref="OnnxRuntimeDecoding"/> (faster on a CPU; see there). Calls from several threads are safe: they join
/// one running batch. Generators and other adapters built over the same model never run it at once.
/// </remarks>
public sealed class Gpt2Generator : IDisposable
{
    private readonly LanguageModelHost _host;

    /// <summary>Creates a generator over <paramref name="model"/>.</summary>
    /// <param name="model">The model; it is put in evaluation mode while generating and restored afterwards.</param>
    /// <param name="tokenizer">
    /// The model's tokenizer, for <see cref="GenerationOptions.StopStrings"/> (matched on decoded text) and the end-of-text and
    /// end-of-turn tokens; the family's built-in one (GPT-2's) when null.
    /// </param>
    /// <param name="onnxRuntime">
    /// Run the forward passes in ONNX Runtime: the model's current weights are exported into a session now (seconds for
    /// 124M) and kept until the generator is disposed. TorchSharp when null.
    /// </param>
    public Gpt2Generator(CausalLanguageModel model, LanguageModelTokenizer? tokenizer = null, OnnxRuntimeDecoding? onnxRuntime = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _host = new LanguageModelHost(model, tokenizer, onnxRuntime: onnxRuntime);
    }

    /// <summary>Whether the forward passes run in ONNX Runtime (<see cref="OnnxRuntimeDecoding"/>).</summary>
    public bool UsesOnnxRuntime => _host.UsesOnnxRuntime;

    /// <summary>Frees the host's ONNX Runtime session, if any, and fails unfinished calls; the model stays its owner's.</summary>
    public void Dispose() => _host.Dispose();

    /// <summary>The prompt followed by up to <see cref="GenerationOptions.MaxNewTokens"/> generated tokens.</summary>
    /// <param name="prompt">At least one token.</param>
    /// <param name="options">Decoding and stopping options.</param>
    /// <param name="onToken">Called with each generated token as soon as it is chosen (on the host's scheduler thread).</param>
    public int[] Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<int>? onToken = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return GenerateBatch([prompt], options, onToken is null ? null : (_, token) => onToken(token))[0];
    }

    /// <summary>
    /// Each prompt followed by its generated tokens, decoded together: the rows join the host's batch at one step, are
    /// read in one left-padded prefill, and each stops on its own.
    /// </summary>
    /// <param name="prompts">One or more prompts of any lengths, each of at least one token.</param>
    /// <param name="options">Decoding and stopping options, shared by all rows.</param>
    /// <param name="onToken">Called with (row, token) for each generated token, on the host's scheduler thread; an exception fails the call.</param>
    public int[][] GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options, Action<int, int>? onToken = null)
    {
        int[][] ids = Check(prompts, options);
        using var group = new CancellationTokenSource();
        GenerationRow[] rows = _host.Submit(ids, options, onToken is null ? null : row => token => onToken(row, token), streamed: false, group.Token);
        GenerationOutcome[] outcomes = LanguageModelHost.Wait(rows, group, CancellationToken.None);
        return [.. ids.Select((prompt, row) => (int[])[.. prompt, .. outcomes[row].Tokens])];
    }

    /// <summary>The generated tokens (not the prompt), as they are produced.</summary>
    /// <param name="prompt">At least one token.</param>
    /// <param name="options">Decoding and stopping options.</param>
    /// <param name="cancellationToken">Stops generation at the next token; leaving the loop early stops it too.</param>
    public async IAsyncEnumerable<int> GenerateStreamingAsync(IReadOnlyList<int> prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        int[][] ids = Check([prompt], options);
        var channel = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        GenerationRow row = _host.Submit(ids, options, _ => token => channel.Writer.TryWrite(token), streamed: false, stopping.Token)[0];
        _ = row.Outcome.ContinueWith(_ => channel.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            await foreach (int token in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();   // tokens already buffered are not handed out after cancellation
                yield return token;
            }
            await row.Outcome.ConfigureAwait(false);   // rethrows the row's own errors
        }
        finally
        {
            stopping.Cancel();   // a caller that leaves early takes its row out at the next step
            await row.Outcome.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)
                .ConfigureAwait(false);   // the row has left, and the model is as it was
        }
    }

    private int[][] Check(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (prompts.Count == 0)
            throw new ArgumentException("Give at least one prompt.", nameof(prompts));
        var ids = new int[prompts.Count][];
        for (int row = 0; row < prompts.Count; row++)
        {
            if (prompts[row] is null || prompts[row].Count == 0)
                throw new ArgumentException($"Prompt {row} holds no tokens; give at least one (for example the end-of-text token, {_host.Tokenizer.EndOfTextId}).", nameof(prompts));
            ids[row] = [.. prompts[row]];
            _host.Model.Config.CheckTokenIds(ids[row], nameof(prompts), prompts.Count == 1 ? "the prompt" : $"prompt {row}");
        }
        return ids;
    }
}
