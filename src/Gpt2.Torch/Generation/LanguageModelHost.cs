using Gpt2.Torch.Model;
using Gpt2.Torch.Tokenization;
using static TorchSharp.torch;

namespace Gpt2.Torch.Generation;

/// <summary>
/// One loaded model and everything that runs it outside training: its tokenizer, its decoding engine (TorchSharp, or
/// ONNX Runtime with <see cref="OnnxRuntimeDecoding"/>) and its one scheduler thread, which serves every kind of work:
/// generation (whole, streamed or batched, through <see cref="Gpt2Generator"/> and <see cref="Gpt2TextGenerationService"/>),
/// final hidden states (<see cref="EmbedAsync"/>), and other work on the model between decode steps. After vLLM's
/// <c>LLMEngine</c>: one engine, used offline and behind a server alike.
/// </summary>
/// <remarks>
/// <para><b>Concurrency.</b> Every member is thread-safe. Generations submitted while others run join the running batch
/// at its next step and leave it as they finish, so concurrent callers share each forward pass; embeddings and other
/// work run on the same thread between steps. Each greedy generation gets exactly the tokens it gets alone. Adapters
/// that share one host (a text generation service, its chat client, an embedding generator over
/// <see cref="Gpt2TextGenerationService.Host"/>) are batched together; hosts built over the same model instance (one per
/// adapter built from a model) never run it at once either: each step and work item holds the model's lock.</para>
/// <para>Disposing the host fails its unfinished work with <see cref="ObjectDisposedException"/>, frees the ONNX Runtime
/// session, if any, and disposes the model when the host owns it.</para>
/// </remarks>
public sealed class LanguageModelHost : IDisposable
{
    private readonly bool _ownsModel;
    private readonly OnnxRuntimeDecoderSession? _onnxRuntime;
    private readonly DecodeScheduler _scheduler;
    private readonly EmbeddingBatcher _embeddings;

    /// <summary>A host over <paramref name="model"/>.</summary>
    /// <param name="model">The model; it is put in evaluation mode during each step and restored afterwards.</param>
    /// <param name="tokenizer">
    /// The model's tokenizer: text results, stop strings and the end-of-text and end-of-turn tokens generation stops at.
    /// When null, the family's built-in one (GPT-2's <see cref="Gpt2Tokenizer.Default"/>); families whose tokenizer comes
    /// with the weights (Llama, Qwen: <see cref="HuggingFaceTokenizer"/>) must be given theirs.
    /// </param>
    /// <param name="ownsModel">Whether disposing the host disposes the model.</param>
    /// <param name="onnxRuntime">
    /// Run the decode steps in ONNX Runtime: the model's current weights are exported into a session now (seconds for
    /// 124M) and kept until the host is disposed; TorchSharp when null. Embeddings and other work use the model itself.
    /// </param>
    /// <exception cref="ArgumentException">
    /// ONNX Runtime was asked for a model it cannot run (see <see cref="OnnxRuntimeDecoding"/>); no tokenizer was given for
    /// a family without a built-in one.
    /// </exception>
    public LanguageModelHost(CausalLanguageModel model, LanguageModelTokenizer? tokenizer = null, bool ownsModel = false, OnnxRuntimeDecoding? onnxRuntime = null)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer ?? model.Config.BuiltInTokenizer ?? throw new ArgumentException(
            $"A '{model.Config.ModelType}' model needs the tokenizer its weights came with: pass HuggingFaceTokenizer.Load(folder) of the model's folder, or load the host from a LanguageModelSource.",
            nameof(tokenizer));
        _onnxRuntime = onnxRuntime is null ? null : OnnxRuntimeDecoderSession.Create(model, onnxRuntime);
        EngineName = onnxRuntime is null ? DecodingEngine.TorchSharp.Name : DecodingEngine.OnnxRuntime(onnxRuntime).Name;
        _scheduler = new DecodeScheduler(model, _onnxRuntime is null ? new TorchContinuousBatchEngine(model) : new OnnxRuntimeContinuousBatchEngine(_onnxRuntime));
        // One pass reads at most what sixteen full-context texts would (the embedding generator's default batch).
        _embeddings = new EmbeddingBatcher(work => _scheduler.RunAsync(work, CancellationToken.None), Embed, 16L * model.Config.ContextLength);
        _ownsModel = ownsModel;
    }

    /// <summary>
    /// A host over the model of <paramref name="source"/> (a preset, Hugging Face id or folder, random weights, or a model
    /// in memory): a loaded model is owned by the host; a model in memory stays its owner's.
    /// </summary>
    /// <param name="source">Where the model comes from.</param>
    /// <param name="device">Where the model runs; TorchSharp's default device when null.</param>
    /// <param name="engine">
    /// Which engine decodes. When null: <see cref="DecodingEngine.Auto"/> (ONNX Runtime float32 on a CPU, TorchSharp on
    /// CUDA) for a loaded model, <see cref="DecodingEngine.TorchSharp"/> for a model in memory (which may go on training,
    /// where ONNX Runtime would decode with a snapshot of its weights).
    /// </param>
    public static LanguageModelHost Load(LanguageModelSource source, Device? device = null, DecodingEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        LanguageModelTokenizer tokenizer = source.LoadTokenizer();
        CausalLanguageModel model = source.Load(device);
        try
        {
            engine ??= source.IsInMemory ? DecodingEngine.TorchSharp : DecodingEngine.Auto;
            return new LanguageModelHost(model, tokenizer, ownsModel: !source.IsInMemory, onnxRuntime: engine.Resolve(model));
        }
        catch
        {
            if (!source.IsInMemory)
                model.Dispose();
            throw;
        }
    }

    /// <summary>The model.</summary>
    public CausalLanguageModel Model { get; }

    /// <summary>The tokenizer of prompts and generated tokens.</summary>
    public LanguageModelTokenizer Tokenizer { get; }

    /// <summary>Whether the decode steps run in ONNX Runtime (see the constructor).</summary>
    public bool UsesOnnxRuntime => _onnxRuntime is not null;

    /// <summary>The engine that decodes, by its <see cref="DecodingEngine.Name"/>: <c>torchsharp</c>, <c>onnxruntime</c>, <c>onnxruntime-int8</c> or <c>onnxruntime-int4</c>.</summary>
    public string EngineName { get; private init; } = DecodingEngine.TorchSharp.Name;

    /// <summary>The most generations decoded together in one step so far.</summary>
    public int PeakBatchSize => _scheduler.PeakBatchSize;

    /// <summary>
    /// What the decode loop holds now: running and waiting generations and the batch's keys and values (for a server's
    /// metrics). Read without waiting for the model, so it answers while a step runs; its numbers are each current but
    /// may straddle a step.
    /// </summary>
    public LanguageModelHostState State => _scheduler.State;

    /// <summary>
    /// The pooled final hidden states (after the last LayerNorm) of each token list, computed together in one
    /// left-padded, masked forward pass on the scheduler thread between decode steps; the lists of concurrent callers
    /// waiting for the same round share that pass.
    /// </summary>
    /// <param name="tokenIds">One or more lists of 1 to context-length token ids of the model's vocabulary.</param>
    /// <param name="pooling">How a list's states become one vector.</param>
    /// <param name="normalize">Whether vectors are scaled to unit L2 length.</param>
    /// <param name="cancellationToken">Cancels the work while it waits for its turn.</param>
    /// <returns>One vector of <see cref="LanguageModelConfig.EmbeddingSize"/> values per list, in order.</returns>
    /// <exception cref="ArgumentException">No lists, an empty list, a list longer than the context, or an id outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">The host was disposed.</exception>
    public Task<float[][]> EmbedAsync(IReadOnlyList<IReadOnlyList<int>> tokenIds, EmbeddingPooling pooling = EmbeddingPooling.Mean, bool normalize = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        OptionChecks.Defined(pooling, nameof(pooling));
        if (tokenIds.Count == 0)
            throw new ArgumentException("Give at least one token list to embed.", nameof(tokenIds));
        int[][] rows = new int[tokenIds.Count][];
        for (int i = 0; i < rows.Length; i++)
        {
            if (tokenIds[i] is null || tokenIds[i].Count == 0)
                throw new ArgumentException($"Token list {i} is empty; an embedding needs at least one token.", nameof(tokenIds));
            if (tokenIds[i].Count > Model.Config.ContextLength)
                throw new ArgumentException(
                    $"Token list {i} has {tokenIds[i].Count} tokens, more than the model's context of {Model.Config.ContextLength}; keep its first {Model.Config.ContextLength}.",
                    nameof(tokenIds));
            rows[i] = [.. tokenIds[i]];
            Model.Config.CheckTokenIds(rows[i], nameof(tokenIds), $"token list {i}");
        }
        return _embeddings.EmbedAsync(rows, pooling, normalize, cancellationToken);
    }

    /// <summary>The embedding forward passes run so far (concurrent callers' requests share one).</summary>
    internal int EmbeddingPassCount => _embeddings.PassCount;

    /// <summary>Runs <paramref name="work"/> on the scheduler thread between two decode steps, holding the model's lock.</summary>
    internal Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return _scheduler.RunAsync(work, cancellationToken);
    }

    /// <summary>
    /// Queues one generation row per prompt, joining the running batch together at its next step.
    /// </summary>
    /// <param name="prompts">Validated prompts of at least one token (longer than the context is allowed: the window slides).</param>
    /// <param name="options">Validated options shared by the rows.</param>
    /// <param name="onToken">For row i, a callback run on the scheduler thread with each of its tokens; null for none.</param>
    /// <param name="streamed">Whether the rows send text updates.</param>
    /// <param name="cancellationToken">Takes the rows out at the next step.</param>
    internal GenerationRow[] Submit(IReadOnlyList<int[]> prompts, GenerationOptions options, Func<int, Action<int>?>? onToken, bool streamed,
        CancellationToken cancellationToken)
    {
        var rows = new List<GenerationRow>(prompts.Count);
        try
        {
            for (int i = 0; i < prompts.Count; i++)
                rows.Add(new GenerationRow(prompts[i], options, Tokenizer, Model.Device, onToken?.Invoke(i), streamed, cancellationToken));
            GenerationRow[] all = [.. rows];
            _scheduler.Submit(all);
            return all;
        }
        catch (Exception e)
        {
            foreach (GenerationRow row in rows)
                row.FailNow(e);
            throw;
        }
    }

    /// <summary>
    /// The outcomes of rows submitted together, waited for synchronously; the first failure cancels the others (through
    /// <paramref name="group"/>, the rows' cancellation source) and is rethrown; <paramref name="cancellationToken"/>
    /// ends the wait at once (the rows leave the batch at its next step).
    /// </summary>
    internal static GenerationOutcome[] Wait(GenerationRow[] rows, CancellationTokenSource group, CancellationToken cancellationToken)
    {
        foreach (GenerationRow row in rows)
            row.Outcome.ContinueWith(task =>
            {
                try
                {
                    group.Cancel();
                }
                catch (ObjectDisposedException)
                {
                }
            }, CancellationToken.None, TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            return Task.WhenAll(rows.Select(row => row.Outcome)).WaitAsync(cancellationToken).GetAwaiter().GetResult();
        }
        catch (TaskCanceledException e)
        {
            throw new OperationCanceledException(e.Message, e, e.CancellationToken);
        }
    }

    /// <summary>Fails unfinished work with <see cref="ObjectDisposedException"/>, frees the ONNX Runtime session, if any, and disposes the model when the host owns it.</summary>
    public void Dispose()
    {
        _scheduler.Dispose();
        _onnxRuntime?.Dispose();
        if (_ownsModel)
            Model.Dispose();
    }

    // Each row's mean-pooled and last-token final hidden states, read in one left-padded pass (on the scheduler thread).
    private (float[][] Mean, float[][] LastToken) Embed(int[][] rows)
    {
        using var inference = new InferenceScope(Model);
        using var scope = NewDisposeScope();
        int width = rows.Max(row => row.Length);
        var idData = new long[rows.Length * width];
        var realData = new bool[rows.Length * width];
        for (int r = 0; r < rows.Length; r++)
        {
            int offset = r * width + width - rows[r].Length;
            for (int t = 0; t < rows[r].Length; t++)
            {
                idData[offset + t] = rows[r][t];
                realData[offset + t] = true;
            }
        }
        Tensor ids = tensor(idData, [rows.Length, width], int64, Model.Device);
        Tensor real = tensor(realData, [rows.Length, width], @bool, Model.Device);
        bool padded = rows.Any(row => row.Length < width);
        Tensor hidden = Model.ComputeHiddenStates(ids, attentionMask: padded ? real : null);        // (B, T, E)
        Tensor mean = (hidden * real.unsqueeze(-1)).sum(1) / real.sum(1, keepdim: true);          // (B, E)
        Tensor last = hidden.select(1, width - 1);                                                 // left padding: every row ends at T - 1
        float[] flat = stack([mean, last]).to(float32).cpu().data<float>().ToArray();             // (2, B, E): one transfer
        int size = (int)hidden.shape[2];
        float[][] Rows(int which) => [.. Enumerable.Range(0, rows.Length).Select(r => flat[((which * rows.Length + r) * size)..((which * rows.Length + r + 1) * size)])];
        return (Rows(0), Rows(1));
    }
}
