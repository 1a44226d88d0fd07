using System.Runtime.CompilerServices;
using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// Text in, text out with a <see cref="CausalLanguageModel"/>: the one place where prompts are tokenized and cropped to the
/// context, and generated tokens become text (up to <c>&lt;|endoftext|&gt;</c>, a stop sequence or a stop string), whole
/// or streamed, one prompt or a batch. An adapter over a <see cref="LanguageModelHost"/>, whose one decode loop does the
/// work. The ML.NET generators and the AI abstractions (Gpt2MLNet.AI) build on it.
/// </summary>
/// <remarks>
/// <para>A prompt longer than the context length minus <see cref="GenerationOptions.MaxNewTokens"/> keeps its last
/// tokens; <see cref="TextGenerationResult.DroppedPromptTokenCount"/> says how many were cut. Prompts are encoded as
/// plain text (<see cref="LanguageModelTokenizer.EncodeWithBeginningOfText"/>: after the family's beginning-of-text token,
/// if any): <c>&lt;|endoftext|&gt;</c> written in a prompt is text, not the special token.</para>
/// <para>Every member is thread-safe, and concurrent calls of any kind (whole, streamed, batched) join the host's one
/// running batch at its next step and leave it as they finish, sharing each forward pass; each greedy answer equals
/// what the call gets alone. Adapters over the same <see cref="Host"/> (a chat client, an embedding generator) are
/// batched and interleaved with it; adapters built from the same model over other hosts never run it at once.</para>
/// </remarks>
public sealed class Gpt2TextGenerationService : IDisposable
{
    private readonly bool _ownsHost;

    /// <summary>A service over <paramref name="model"/>, with a host of its own.</summary>
    /// <param name="model">The model; it is put in evaluation mode while generating.</param>
    /// <param name="tokenizer">GPT-2's tokenizer (<see cref="Gpt2Tokenizer.Default"/> when null).</param>
    /// <param name="ownsModel">Whether disposing the service disposes the model.</param>
    /// <param name="onnxRuntime">
    /// Run the forward passes in ONNX Runtime (see <see cref="OnnxRuntimeDecoding"/>: the model's weights as they are now);
    /// TorchSharp when null.
    /// </param>
    public Gpt2TextGenerationService(CausalLanguageModel model, LanguageModelTokenizer? tokenizer = null, bool ownsModel = false, OnnxRuntimeDecoding? onnxRuntime = null)
    {
        Host = new LanguageModelHost(model, tokenizer, ownsModel, onnxRuntime);
        _ownsHost = true;
    }

    /// <summary>A service over <paramref name="host"/>, which stays its owner's (disposing the service leaves it running).</summary>
    public Gpt2TextGenerationService(LanguageModelHost host)
    {
        Host = host ?? throw new ArgumentNullException(nameof(host));
    }

    /// <summary>
    /// A service over the model of <paramref name="source"/> (a preset, Hugging Face id or folder, random weights, or a
    /// model in memory), decoding with <paramref name="engine"/>: a loaded model is owned by the service; a model in memory
    /// stays its owner's.
    /// </summary>
    /// <param name="source">Where the model comes from.</param>
    /// <param name="device">Where the model runs; TorchSharp's default device when null.</param>
    /// <param name="engine">
    /// Which engine decodes; when null, the fastest correct one for a loaded model (<see cref="DecodingEngine.Auto"/>:
    /// ONNX Runtime float32 on a CPU, TorchSharp on CUDA) and TorchSharp for a model in memory (see <see cref="LanguageModelHost.Load"/>).
    /// </param>
    public static Gpt2TextGenerationService Load(LanguageModelSource source, Device? device = null, DecodingEngine? engine = null)
    {
        LanguageModelHost host = LanguageModelHost.Load(source, device, engine);
        return new Gpt2TextGenerationService(host, ownsHost: true);
    }

    private Gpt2TextGenerationService(LanguageModelHost host, bool ownsHost)
    {
        Host = host;
        _ownsHost = ownsHost;
    }

    /// <summary>The host that runs the model: share it with an embedding generator or another service to batch them together.</summary>
    public LanguageModelHost Host { get; }

    /// <summary>Whether the forward passes run in ONNX Runtime (see the constructor).</summary>
    public bool UsesOnnxRuntime => Host.UsesOnnxRuntime;

    /// <summary>The engine that decodes (<see cref="LanguageModelHost.EngineName"/>).</summary>
    public string EngineName => Host.EngineName;

    /// <summary>The most generations the host has decoded together so far.</summary>
    public int PeakContinuousBatchSize => Host.PeakBatchSize;

    /// <summary>The model that writes.</summary>
    public CausalLanguageModel Model => Host.Model;

    /// <summary>The tokenizer of prompts and generated tokens.</summary>
    public LanguageModelTokenizer Tokenizer => Host.Tokenizer;

    /// <summary>The continuation of <paramref name="prompt"/>.</summary>
    /// <param name="prompt">At least one character.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null.</param>
    /// <param name="cancellationToken">Stops generation at the next token (it throws <see cref="OperationCanceledException"/>).</param>
    public TextGenerationResult Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return GenerateBatch([prompt], options, cancellationToken)[0];
    }

    /// <summary>The continuation of <paramref name="prompt"/>, generated on the host's scheduler thread beside other calls.</summary>
    /// <param name="prompt">At least one character.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null.</param>
    /// <param name="cancellationToken">Stops generation at the next token.</param>
    public Task<TextGenerationResult> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        int[][] ids = EncodePrompts([prompt], options, out int[] dropped);
        return Whole(ids[0], dropped[0], options, cancellationToken);
    }

    /// <summary>
    /// The continuation of a prompt already tokenized with <see cref="Tokenizer"/>: for a caller that needs the token
    /// count before generating (to check it against the context), so that the prompt is tokenized once. A prompt longer
    /// than the context minus <see cref="GenerationOptions.MaxNewTokens"/> keeps its last tokens, as with a text prompt.
    /// </summary>
    /// <param name="promptTokens">At least one token id of the tokenizer's vocabulary.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null.</param>
    /// <param name="cancellationToken">Stops generation at the next token.</param>
    public Task<TextGenerationResult> GenerateAsync(IReadOnlyList<int> promptTokens, GenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        int[] ids = CropTokens(promptTokens, options, out int dropped);
        return Whole(ids, dropped, options, cancellationToken);
    }

    /// <summary>
    /// The continuation of each prompt; the prompts join the host's batch together (one left-padded prefill) and each
    /// row stops on its own. Greedy rows equal what <see cref="Generate"/> writes for each prompt alone.
    /// </summary>
    /// <param name="prompts">One or more prompts, each of at least one character.</param>
    /// <param name="options">Sampling and stopping, shared by the rows; <see cref="GenerationOptions"/>' defaults when null.</param>
    /// <param name="cancellationToken">Stops generation at the next token (it throws <see cref="OperationCanceledException"/>).</param>
    public IReadOnlyList<TextGenerationResult> GenerateBatch(IReadOnlyList<string> prompts, GenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        int[][] ids = EncodePrompts(prompts, options, out int[] dropped);
        using var group = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        GenerationRow[] rows = Host.Submit(ids, options, onToken: null, streamed: false, group.Token);
        GenerationOutcome[] outcomes = LanguageModelHost.Wait(rows, group, cancellationToken);
        return [.. outcomes.Select((outcome, row) => outcome.Result with { DroppedPromptTokenCount = dropped[row] })];
    }

    /// <summary>
    /// The continuation of <paramref name="prompt"/> as pieces of text, handed out as the model writes them: whole
    /// characters only, never part of a stop, concatenating to exactly the text <see cref="Generate"/> returns. The
    /// stream's <see cref="TextGenerationStream.Result"/> holds the counts and finish reason once it has been enumerated;
    /// its <see cref="TextGenerationStream.Updates"/> carry the log-probabilities of each piece's tokens.
    /// </summary>
    /// <param name="prompt">At least one character.</param>
    /// <param name="options">Sampling and stopping; <see cref="GenerationOptions"/>' defaults when null. Checked now, not at enumeration.</param>
    /// <param name="cancellationToken">Stops generation at the next token; leaving the loop early stops it too.</param>
    public TextGenerationStream GenerateStreamingAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        int[] ids = EncodePrompts([prompt], options, out int[] dropped)[0];
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
        return new TextGenerationStream((stream, enumeratorToken) => Stream(stream, ids, dropped, options, cancellationToken, enumeratorToken));
    }

    /// <summary>Disposes the host when the service made it (its unfinished generations fail, and the model goes when the service owns it).</summary>
    public void Dispose()
    {
        if (_ownsHost)
            Host.Dispose();
    }

    private async Task<TextGenerationResult> Whole(int[] ids, int dropped, GenerationOptions options, CancellationToken cancellationToken)
    {
        GenerationRow row = Host.Submit([ids], options, onToken: null, streamed: false, cancellationToken)[0];
        // A cancelled call returns at once, even while the model is busy; its row leaves the batch at the next step.
        GenerationOutcome outcome = await row.Outcome.WaitAsync(cancellationToken).ConfigureAwait(false);
        return outcome.Result with { DroppedPromptTokenCount = dropped };
    }

    private async IAsyncEnumerable<TextGenerationUpdate> Stream(TextGenerationStream stream, int[] ids, int dropped, GenerationOptions options,
        CancellationToken callToken, [EnumeratorCancellation] CancellationToken enumeratorToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callToken, enumeratorToken);
        GenerationRow row = Host.Submit([ids], options, onToken: null, streamed: true, linked.Token)[0];
        try
        {
            await foreach (TextGenerationUpdate update in row.Updates!.ReadAllAsync(linked.Token).ConfigureAwait(false))
            {
                linked.Token.ThrowIfCancellationRequested();   // updates already buffered are not handed out after cancellation
                yield return update;
            }
            stream.Result = (await row.Outcome.ConfigureAwait(false)).Result with { DroppedPromptTokenCount = dropped };
        }
        finally
        {
            linked.Cancel();   // a caller that leaves early takes its row out of the batch at the next step
        }
    }

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
                    $"Prompt {row} is empty; the model needs at least one token to continue, so give some text to start from.", nameof(prompts));
            int[] all = Tokenizer.EncodeWithBeginningOfText(prompts[row]);
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
