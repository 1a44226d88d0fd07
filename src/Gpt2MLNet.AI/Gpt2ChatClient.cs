using System.Runtime.CompilerServices;
using Gpt2.Torch;
using Gpt2.Torch.Generation;
using Gpt2.Torch.Model;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Gpt2MLNet.AI;

/// <summary>
/// A language model of any supported family behind Microsoft.Extensions.AI's <see cref="IChatClient"/>: messages become a
/// prompt through a <see cref="ChatPromptFormat"/> (by default the model's own chat template, as an instruct model was
/// trained with it), and <see cref="Gpt2TextGenerationService"/> writes the answer, whole or streamed.
/// </summary>
/// <remarks>
/// <para><see cref="ChatOptions"/> map to <see cref="GenerationOptions"/> through <see cref="Gpt2ChatOptions.ToGenerationOptions"/>
/// (see there: <see cref="ChatOptions.MaxOutputTokens"/>, <see cref="ChatOptions.Temperature"/> (0, the default, decodes
/// greedily), <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.TopK"/>, <see cref="ChatOptions.FrequencyPenalty"/>,
/// <see cref="ChatOptions.PresencePenalty"/>, <see cref="ChatOptions.Seed"/>, <see cref="ChatOptions.StopSequences"/> (the
/// text ends before the first of them), and the additional properties <c>top_k</c>, <c>min_p</c>,
/// <c>repetition_penalty</c>, <c>logit_bias</c>, <c>logprobs</c> and <c>top_logprobs</c>);
/// <see cref="ChatOptions.Instructions"/> is rendered as a system message, and a
/// <see cref="ChatOptions.RawRepresentationFactory"/> may return a <see cref="GenerationOptions"/> to start from.
/// <see cref="ChatOptions.ResponseFormat"/> JSON (any object, or a schema) constrains decoding so the text always parses
/// and validates, which is what <c>GetResponseAsync&lt;T&gt;</c> asks for. Everything a local model cannot honour is
/// refused with a <see cref="NotSupportedException"/> that names the option: reasoning, conversation ids, background
/// responses, continuation tokens, an unknown additional property (the message lists the known ones), a model id other
/// than <see cref="ModelId"/>, and tools with a model whose template does not render them.</para>
/// <para>Function calling, for a model whose chat template renders tools (<see cref="ChatPromptFormat.RendersTools"/>:
/// Qwen2.5, Qwen3, Llama 3.1 and 3.2): <see cref="ChatOptions.Tools"/> are rendered by the template, history messages with
/// <see cref="FunctionCallContent"/> and <see cref="FunctionResultContent"/> go back to it, and the answer is read by a
/// <see cref="ToolCallReader"/>: each call becomes a <see cref="FunctionCallContent"/> and the response's finish reason
/// <see cref="ChatFinishReason.ToolCalls"/>, so Microsoft.Extensions.AI's <c>FunctionInvokingChatClient</c> runs a tool
/// loop over the local model. Streamed, a call arrives as one update when it is complete (Qwen's when its closing tag
/// arrives, Llama's, whose answer is either calls or text, at the end of the answer). A required tool mode
/// constrains decoding to one call whose arguments satisfy the function's schema (see <see cref="Gpt2ChatOptions"/>).</para>
/// <para>Responses carry the model id, a <see cref="UsageDetails"/> (prompt tokens the model read, tokens it generated)
/// and a finish reason: <see cref="ChatFinishReason.Stop"/> at <c>&lt;|endoftext|&gt;</c> or a stop sequence,
/// <see cref="ChatFinishReason.Length"/> when the token limit ended it. A streamed response ends with an update that
/// carries the finish reason and a <see cref="UsageContent"/>. A prompt longer than the context keeps its last tokens;
/// the response's <see cref="ChatResponse.AdditionalProperties"/> then hold <c>DroppedPromptTokenCount</c>.</para>
/// <para>Log-probabilities, which Microsoft.Extensions.AI has no type for, are carried as its OpenAI adapter carries
/// provider data: when <c>logprobs</c> (and optionally <c>top_logprobs</c>) were asked for in the additional properties, a
/// <see cref="ChatResponse"/>'s <see cref="ChatResponse.AdditionalProperties"/> hold, under <see cref="Gpt2ChatOptions.LogProbabilitiesKey"/>
/// (<c>"logprobs"</c>), an <see cref="IReadOnlyList{T}"/> of <see cref="GeneratedTokenLogProbability"/>, one per generated
/// token (the stop token included), and each streamed <see cref="ChatResponseUpdate"/>'s hold those of the tokens
/// generated since the previous update. The values come from the distribution each token was drawn from (see
/// <see cref="GenerationOptions"/>). Whether asked or not, <see cref="ChatResponse.RawRepresentation"/> is the
/// <see cref="TextGenerationResult"/> and <see cref="ChatResponseUpdate.RawRepresentation"/> the
/// <see cref="TextGenerationUpdate"/> (the last update's: the <see cref="TextGenerationResult"/>).</para>
/// <para>Concurrent callers join one running batch on the service's <see cref="LanguageModelHost"/> at its next decode
/// step and leave it as they finish, each getting exactly the answer it would get alone.</para>
/// </remarks>
public sealed class Gpt2ChatClient : IChatClient
{
    /// <summary>The provider name in <see cref="ChatClientMetadata"/>.</summary>
    public const string ProviderName = "gpt2mlnet";

    /// <summary>The key under which a response's additional properties hold how many prompt tokens were cut to fit the context.</summary>
    public const string DroppedPromptTokenCountKey = "DroppedPromptTokenCount";

    /// <summary>The most tokens an answer has when neither the defaults nor <see cref="ChatOptions.MaxOutputTokens"/> say (at most half the context).</summary>
    public const int DefaultMaxOutputTokens = 256;

    private readonly bool _ownsService;
    private readonly GenerationOptions _defaults;
    private readonly ChatClientMetadata _metadata;

    /// <summary>A chat client over a generation service.</summary>
    /// <param name="service">Writes the text.</param>
    /// <param name="format">
    /// How messages become a prompt; when null, the model's own chat template (<see cref="ChatPromptFormat.FromTokenizer"/>
    /// of the service's tokenizer), or <see cref="ChatPromptFormat.RawText"/> for a model without one (GPT-2).
    /// </param>
    /// <param name="modelId">The model id reported in responses and metadata; "gpt2" when null.</param>
    /// <param name="defaults">
    /// Generation options that <see cref="ChatOptions"/> override; when null, <see cref="GenerationOptions"/>' defaults
    /// with at most <see cref="DefaultMaxOutputTokens"/> tokens and half the model's context.
    /// </param>
    /// <param name="ownsService">Whether disposing the client disposes the service.</param>
    public Gpt2ChatClient(Gpt2TextGenerationService service, ChatPromptFormat? format = null, string? modelId = null,
        GenerationOptions? defaults = null, bool ownsService = false)
    {
        Service = service ?? throw new ArgumentNullException(nameof(service));
        Format = format ?? ChatPromptFormat.FromTokenizer(service.Tokenizer);
        ModelId = string.IsNullOrWhiteSpace(modelId) ? "gpt2" : modelId;
        _defaults = defaults ?? new GenerationOptions { MaxNewTokens = Math.Min(DefaultMaxOutputTokens, service.Model.Config.ContextLength / 2) };
        _defaults.Validate(service.Model.Config.ContextLength);
        _ownsService = ownsService;
        _metadata = new ChatClientMetadata(ProviderName, providerUri: null, ModelId);
    }

    /// <summary>
    /// A chat client over a model in memory, which stays its owner's. For a fitted ML.NET instruction tuner, pass its
    /// service instead, so that the two never run the model at once:
    /// <c>new Gpt2ChatClient(transformer.GenerationService, ChatPromptFormat.FromInstructionFormat(transformer.PromptFormat))</c>.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="format">How messages become a prompt; the model's own chat template, or raw text without one, when null.</param>
    /// <param name="modelId">The model id reported in responses; "gpt2" when null.</param>
    /// <param name="defaults">Generation options that <see cref="ChatOptions"/> override.</param>
    public Gpt2ChatClient(CausalLanguageModel model, ChatPromptFormat? format = null, string? modelId = null, GenerationOptions? defaults = null)
        : this(new Gpt2TextGenerationService(model), format, modelId, defaults, ownsService: true)
    {
    }

    /// <summary>
    /// A chat client over the model of <paramref name="source"/>, in one line: <c>Gpt2ChatClient.Create("gpt2")</c> (a
    /// preset, a Hugging Face model id or a checkpoint folder; downloaded once), loaded on <paramref name="device"/>
    /// and owned by the client. The model id is the source's name.
    /// </summary>
    /// <param name="source">Where the model comes from.</param>
    /// <param name="format">
    /// How messages become a prompt; when null, the model's own chat template (an instruct model's <c>tokenizer_config.json</c>),
    /// or <see cref="ChatPromptFormat.RawText"/> for a model without one (plain GPT-2).
    /// </param>
    /// <param name="device">Where the model runs; TorchSharp's default device when null.</param>
    /// <param name="defaults">Generation options that <see cref="ChatOptions"/> override.</param>
    /// <param name="engine">
    /// Which engine decodes; when null, the fastest correct one for the device (<see cref="DecodingEngine.Auto"/>: ONNX
    /// Runtime float32 on a CPU, TorchSharp on CUDA; TorchSharp for a model in memory).
    /// </param>
    public static Gpt2ChatClient Create(LanguageModelSource source, ChatPromptFormat? format = null, Device? device = null, GenerationOptions? defaults = null,
        DecodingEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var service = Gpt2TextGenerationService.Load(source, device, engine);
        try
        {
            return new Gpt2ChatClient(service, format, source.NameOrPath, defaults, ownsService: true);
        }
        catch
        {
            service.Dispose();
            throw;
        }
    }

    /// <summary>The generation service that writes the answers.</summary>
    public Gpt2TextGenerationService Service { get; }

    /// <summary>How messages become a prompt.</summary>
    public ChatPromptFormat Format { get; }

    /// <summary>The model id reported in responses.</summary>
    public string ModelId { get; }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        (string prompt, GenerationOptions textOptions, bool toolsOffered) = Prepare(messages, options);
        TextGenerationResult result = await (Format.RendersSpecialTokens
            ? Service.GenerateAsync(Service.Tokenizer.Encode(prompt, allowSpecialTokens: true), textOptions, cancellationToken)
            : Service.GenerateAsync(prompt, textOptions, cancellationToken)).ConfigureAwait(false);
        string id = NewId();
        IList<AIContent> contents = toolsOffered ? ToolCallReader.ReadAll(result.Text, Format, options!.AllowMultipleToolCalls ?? true) : [new TextContent(result.Text)];
        bool calledTools = contents.Any(c => c is FunctionCallContent);
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, contents) { MessageId = id })
        {
            ResponseId = id,
            ModelId = ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = calledTools ? ChatFinishReason.ToolCalls : FinishReason(result),
            Usage = Usage(result),
            RawRepresentation = result,
        };
        if (result.PromptWasTruncated)
            (response.AdditionalProperties ??= [])[DroppedPromptTokenCountKey] = result.DroppedPromptTokenCount;
        if (textOptions.LogProbabilities is not null)
            (response.AdditionalProperties ??= [])[Gpt2ChatOptions.LogProbabilitiesKey] = result.LogProbabilities ?? [];
        return response;
    }

    /// <inheritdoc />
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        (string prompt, GenerationOptions textOptions, bool toolsOffered) = Prepare(messages, options);   // refused options throw here, not at enumeration
        TextGenerationStream stream = Format.RendersSpecialTokens
            ? Service.GenerateStreamingAsync(Service.Tokenizer.Encode(prompt, allowSpecialTokens: true), textOptions, cancellationToken)
            : Service.GenerateStreamingAsync(prompt, textOptions, cancellationToken);
        ToolCallReader? reader = toolsOffered ? new ToolCallReader(Format, options!.AllowMultipleToolCalls ?? true) : null;
        return Stream(stream, textOptions.LogProbabilities is not null, reader, cancellationToken);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
            return null;
        if (serviceType == typeof(ChatClientMetadata))
            return _metadata;
        if (serviceType.IsInstanceOfType(Service.Model))
            return Service.Model;
        if (serviceType == typeof(ChatPromptFormat))
            return Format;
        if (serviceType.IsInstanceOfType(Service))
            return Service;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Disposes the generation service (and its model) when the client owns it.</summary>
    public void Dispose()
    {
        if (_ownsService)
            Service.Dispose();
    }

    private async IAsyncEnumerable<ChatResponseUpdate> Stream(TextGenerationStream stream, bool logProbabilities, ToolCallReader? reader,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string id = NewId();
        DateTimeOffset created = DateTimeOffset.UtcNow;
        ChatResponseUpdate Update(IList<AIContent> contents, object raw) =>
            new(ChatRole.Assistant, contents) { ResponseId = id, MessageId = id, ModelId = ModelId, CreatedAt = created, RawRepresentation = raw };

        await foreach (TextGenerationUpdate piece in stream.Updates.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            bool hasLogProbabilities = logProbabilities && piece.LogProbabilities.Count > 0;
            // With tools offered, a call is one update when it is complete; its framing and JSON are never streamed as text.
            List<AIContent> contents = reader is not null ? [.. reader.Append(piece.Text)]
                : piece.Text.Length > 0 ? [new TextContent(piece.Text)] : [];
            if (contents.Count == 0 && !hasLogProbabilities)
                continue;
            ChatResponseUpdate update = Update(contents, piece);
            if (hasLogProbabilities)
                (update.AdditionalProperties ??= [])[Gpt2ChatOptions.LogProbabilitiesKey] = piece.LogProbabilities;
            yield return update;
        }
        TextGenerationResult result = stream.Result!;
        ChatResponseUpdate last = Update([.. reader?.Complete() ?? [], new UsageContent(Usage(result))], result);
        last.FinishReason = reader?.HasToolCalls == true ? ChatFinishReason.ToolCalls : FinishReason(result);
        if (result.PromptWasTruncated)
            (last.AdditionalProperties ??= [])[DroppedPromptTokenCountKey] = result.DroppedPromptTokenCount;
        yield return last;
    }

    private (string Prompt, GenerationOptions Options, bool ToolsOffered) Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        string prompt = Format.Render(messages, options);   // first: tools the format cannot render are refused by name here
        GenerationOptions textOptions = ToTextOptions(options);
        textOptions.Validate(Service.Model.Config.ContextLength);
        textOptions.ValidateTokenIds(Service.Model.Config.VocabSize);
        return (prompt, textOptions, options?.Tools is { Count: > 0 } && options.ToolMode is not NoneChatToolMode);
    }

    private GenerationOptions ToTextOptions(ChatOptions? options)
    {
        if (options is null)
            return _defaults;
        if (options.ModelId is not null && options.ModelId != ModelId)
            throw new NotSupportedException($"ChatOptions.ModelId is not supported by {nameof(Gpt2ChatClient)}: this client serves the model '{ModelId}' only.");
        GenerationOptions start = options.RawRepresentationFactory?.Invoke(this) as GenerationOptions ?? _defaults;
        return Gpt2ChatOptions.ToGenerationOptions(options, start, Format);
    }

    private static ChatFinishReason FinishReason(TextGenerationResult result) =>
        result.FinishReason == TextGenerationFinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    private static UsageDetails Usage(TextGenerationResult result) => new()
    {
        InputTokenCount = result.PromptTokenCount,
        OutputTokenCount = result.CompletionTokenCount,
        TotalTokenCount = result.PromptTokenCount + result.CompletionTokenCount,
    };

    private static string NewId() => $"gpt2-{Guid.NewGuid():N}";
}
