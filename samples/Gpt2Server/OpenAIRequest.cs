using System.Globalization;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Gpt2MLNet.AI;
using Microsoft.Extensions.AI;

namespace Gpt2Server;

/// <summary>
/// The fields of an OpenAI chat or completions request body the server understands, read and checked strictly: a
/// field of the wrong type or out of range is refused with a 400 naming the field (<c>param</c>) and the fix, and a field
/// that would change generation and is not supported (n &gt; 1, best_of &gt; 1, echo, suffix, the deprecated functions)
/// is refused by name rather than ignored.
/// </summary>
/// <remarks>
/// Honoured on both endpoints: <c>max_tokens</c> (or <c>max_completion_tokens</c>), <c>temperature</c>, <c>top_p</c>,
/// <c>stop</c>, <c>seed</c>, <c>frequency_penalty</c>, <c>presence_penalty</c>, <c>logit_bias</c>, and vLLM's <c>top_k</c>,
/// <c>min_p</c> and <c>repetition_penalty</c>; log-probabilities as each endpoint asks for them (chat: <c>logprobs</c>
/// true and <c>top_logprobs</c> 0 to 20; completions: <c>logprobs</c> 0 to 20, vLLM's limit). On chat only:
/// <c>response_format</c>, <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c> (read by <see cref="ResponseFormatAndToolFields"/>). The fields become a
/// <see cref="ChatOptions"/> that <see cref="Gpt2ChatOptions.ToGenerationOptions"/> maps, the one mapping the chat
/// client uses too.
/// </remarks>
public sealed partial class OpenAIRequest
{
    private OpenAIRequest(JsonElement body) => Body = body;

    /// <summary>The request body.</summary>
    public JsonElement Body { get; }

    /// <summary>The model the client asked for.</summary>
    public string Model { get; private init; } = "";

    /// <summary><c>max_completion_tokens</c> or <c>max_tokens</c>; null when neither was sent.</summary>
    public int? MaxTokens { get; private init; }

    /// <summary><c>temperature</c>, 0 to 2.</summary>
    public double? Temperature { get; private init; }

    /// <summary><c>top_p</c>, above 0 and at most 1.</summary>
    public double? TopP { get; private init; }

    /// <summary><c>top_k</c> (vLLM's): sample among this many most likely tokens; null for no limit (-1, 0 or absent).</summary>
    public int? TopK { get; private init; }

    /// <summary><c>frequency_penalty</c>, -2 to 2.</summary>
    public double? FrequencyPenalty { get; private init; }

    /// <summary><c>presence_penalty</c>, -2 to 2.</summary>
    public double? PresencePenalty { get; private init; }

    /// <summary><c>repetition_penalty</c> (vLLM's), above 0; 1 for none.</summary>
    public double? RepetitionPenalty { get; private init; }

    /// <summary><c>min_p</c> (vLLM's), 0 to 1.</summary>
    public double? MinP { get; private init; }

    /// <summary><c>logit_bias</c>: token id to a bias from -100 to 100.</summary>
    public IReadOnlyDictionary<int, double> LogitBias { get; private init; } = new Dictionary<int, double>();

    /// <summary>
    /// How many alternatives each generated token reports with its log-probability (chat: <c>top_logprobs</c> when
    /// <c>logprobs</c> is true, 0 when it is not sent; completions: <c>logprobs</c>); null when none were asked for.
    /// </summary>
    public int? LogProbabilities { get; private init; }

    /// <summary><c>stop</c>: a string or up to 4 strings.</summary>
    public IReadOnlyList<string> Stop { get; private init; } = [];

    /// <summary><c>seed</c>.</summary>
    public long? Seed { get; private init; }

    /// <summary><c>stream</c>.</summary>
    public bool Stream { get; private init; }

    /// <summary><c>stream_options.include_usage</c>.</summary>
    public bool IncludeUsage { get; private init; }

    /// <summary><c>response_format</c> (chat): text, any JSON object, or a JSON schema; null when not sent.</summary>
    public ChatResponseFormat? ResponseFormat { get; private init; }

    /// <summary><c>tools</c> (chat): the functions the model may call, as declarations.</summary>
    public IList<AITool> Tools { get; private init; } = [];

    /// <summary><c>tool_choice</c> (chat): none, auto, required or one named function; null when not sent.</summary>
    public ChatToolMode? ToolMode { get; private init; }

    /// <summary><c>parallel_tool_calls</c> (chat); null when not sent (several calls allowed).</summary>
    public bool? ParallelToolCalls { get; private init; }

    /// <summary>Whether tools are offered: some were sent and <c>tool_choice</c> is not <c>"none"</c>.</summary>
    public bool ToolsOffered => Tools.Count > 0 && ToolMode is not NoneChatToolMode;

    /// <summary>
    /// Reads the fields both endpoints share; <paramref name="chat"/> is false for the completions endpoint, which also
    /// refuses <c>suffix</c> and reads <c>logprobs</c> as a count; <c>logit_bias</c> token ids must be below
    /// <paramref name="vocabularySize"/>.
    /// </summary>
    public static OpenAIRequest Read(JsonElement body, bool chat, int vocabularySize)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw new OpenAIErrorException(400, "The request body must be a JSON object.", code: "invalid_json");
        string model = body.TryGetProperty("model", out JsonElement m) && m.ValueKind == JsonValueKind.String && m.GetString() is { Length: > 0 } name
            ? name : throw new OpenAIErrorException(400, "'model' is required: a string naming the model (GET /v1/models lists it).", "model");

        RefuseUnless(body, "n", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n == 1,
            "only one choice per request is generated; send 1 or leave it out");
        RefuseUnless(body, "best_of", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int b) && b == 1,
            "only one candidate per request is generated; send 1 or leave it out");
        RefuseUnless(body, "functions", v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0, "the deprecated functions field is not supported; send 'tools'");
        RefuseUnless(body, "function_call", v => v.ValueKind == JsonValueKind.String && v.GetString() == "none", "the deprecated function_call field is not supported; send 'tool_choice'");
        if (!chat)
        {
            RefuseUnless(body, "top_logprobs", v => false, "the completions endpoint takes the number of alternatives in 'logprobs' (0 to 20); leave it out");
            RefuseUnless(body, "tools", v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0, "the completions endpoint calls no tools; use /v1/chat/completions");
            RefuseUnless(body, "tool_choice", v => v.ValueKind == JsonValueKind.String && v.GetString() == "none", "the completions endpoint calls no tools; use /v1/chat/completions");
            RefuseUnless(body, "response_format", v => v.ValueKind == JsonValueKind.Object && v.TryGetProperty("type", out JsonElement t)
                && t.ValueKind == JsonValueKind.String && t.GetString() == "text",
                "the completions endpoint writes text; use /v1/chat/completions for JSON");
        }
        RefuseUnless(body, "echo", v => v.ValueKind == JsonValueKind.False, "the prompt is not echoed; send false or leave it out");
        if (!chat)
            RefuseUnless(body, "suffix", v => v.ValueKind == JsonValueKind.String && v.GetString() == "", "GPT-2 cannot insert text before a suffix; leave it out");

        int? maxTokens = Int(body, "max_completion_tokens") ?? Int(body, "max_tokens");
        if (maxTokens < 1)
            throw new OpenAIErrorException(400, $"max_tokens must be at least 1, not {maxTokens}.",
                body.TryGetProperty("max_completion_tokens", out _) ? "max_completion_tokens" : "max_tokens", "invalid_value");
        double? temperature = Number(body, "temperature", 0, 2, minInclusive: true);
        double? topP = Number(body, "top_p", 0, 1, minInclusive: false);
        int? topK = null;
        if (Present(body, "top_k", out JsonElement k))
        {
            // vLLM's top_k: -1 (and 0) mean no limit.
            topK = k.ValueKind == JsonValueKind.Number && k.TryGetInt32(out int value) && value >= -1
                ? (value > 0 ? value : null)
                : throw new OpenAIErrorException(400, "top_k must be an integer: the number of most likely tokens to sample among, or -1 (or 0) for no limit.", "top_k", "invalid_value");
        }
        double? frequencyPenalty = Number(body, "frequency_penalty", -2, 2, minInclusive: true);
        double? presencePenalty = Number(body, "presence_penalty", -2, 2, minInclusive: true);
        double? minP = Number(body, "min_p", 0, 1, minInclusive: true);
        double? repetitionPenalty = Number(body, "repetition_penalty", 0, double.MaxValue, minInclusive: false);
        long? seed = null;
        if (Present(body, "seed", out JsonElement s))
            seed = s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out long v) ? v
                : throw new OpenAIErrorException(400, "seed must be an integer.", "seed", "invalid_type");
        bool stream = Present(body, "stream", out JsonElement st) && (st.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? st.GetBoolean() : throw new OpenAIErrorException(400, "stream must be true or false.", "stream", "invalid_type"));
        bool includeUsage = false;
        if (Present(body, "stream_options", out JsonElement so))
        {
            if (so.ValueKind != JsonValueKind.Object)
                throw new OpenAIErrorException(400, "stream_options must be an object.", "stream_options", "invalid_type");
            if (!stream)
                throw new OpenAIErrorException(400, "stream_options is only allowed with stream: true.", "stream_options", "invalid_value");
            includeUsage = so.TryGetProperty("include_usage", out JsonElement iu) && iu.ValueKind == JsonValueKind.True;
        }
        IList<AITool> tools = chat ? ResponseFormatAndToolFields.ReadTools(body) : [];
        return new OpenAIRequest(body)
        {
            ResponseFormat = chat ? ResponseFormatAndToolFields.ReadResponseFormat(body) : null,
            Tools = tools,
            ToolMode = chat ? ResponseFormatAndToolFields.ReadToolChoice(body, tools) : null,
            ParallelToolCalls = chat ? ResponseFormatAndToolFields.ReadParallelToolCalls(body) : null,
            FrequencyPenalty = frequencyPenalty,
            PresencePenalty = presencePenalty,
            RepetitionPenalty = repetitionPenalty,
            MinP = minP,
            LogitBias = LogitBiasOf(body, vocabularySize),
            LogProbabilities = chat ? ChatLogProbabilities(body) : CompletionLogProbabilities(body),
            Model = model,
            MaxTokens = maxTokens,
            Temperature = temperature,
            TopP = topP,
            TopK = topK,
            Stop = Stops(body),
            Seed = seed,
            Stream = stream,
            IncludeUsage = includeUsage,
        };
    }

    /// <summary>
    /// How to generate for this request, writing at most <paramref name="maxTokens"/> tokens (greedy unless a temperature
    /// above 0 was sent): the fields as <see cref="ChatOptions"/>, mapped as <see cref="Gpt2ChatClient"/> maps them, a
    /// required tool call written as <paramref name="format"/>'s template writes calls.
    /// </summary>
    public GenerationOptions GenerationOptions(int maxTokens, ChatPromptFormat? format = null) =>
        Gpt2ChatOptions.ToGenerationOptions(ChatOptions(maxTokens), new GenerationOptions { MaxNewTokens = maxTokens }, format);

    /// <summary>The fields as Microsoft.Extensions.AI options: what <see cref="ChatOptions"/> has, and the rest in its additional properties.</summary>
    public ChatOptions ChatOptions(int maxTokens)
    {
        var options = new ChatOptions
        {
            MaxOutputTokens = maxTokens,
            Temperature = (float)(Temperature ?? 0),
            TopP = (float?)TopP,
            TopK = TopK,
            FrequencyPenalty = (float?)FrequencyPenalty,
            PresencePenalty = (float?)PresencePenalty,
            Seed = Seed,
            StopSequences = [.. Stop],
            ResponseFormat = ResponseFormat,
            Tools = Tools.Count > 0 ? [.. Tools] : null,
            ToolMode = ToolMode,
            AllowMultipleToolCalls = ParallelToolCalls,
        };
        var additional = new AdditionalPropertiesDictionary();
        if (MinP is double minP)
            additional[Gpt2ChatOptions.MinPKey] = minP;
        if (RepetitionPenalty is double repetitionPenalty)
            additional[Gpt2ChatOptions.RepetitionPenaltyKey] = repetitionPenalty;
        if (LogitBias.Count > 0)
            additional[Gpt2ChatOptions.LogitBiasKey] = LogitBias;
        if (LogProbabilities is int top)
        {
            additional[Gpt2ChatOptions.LogProbabilitiesKey] = true;
            additional[Gpt2ChatOptions.TopLogProbabilitiesKey] = top;
        }
        if (additional.Count > 0)
            options.AdditionalProperties = additional;
        return options;
    }

    /// <summary>
    /// The chat <c>messages</c> as Microsoft.Extensions.AI messages: system, developer, user and assistant text; where the
    /// served prompt format renders tools (<paramref name="rendersTools"/>), an assistant's <c>tool_calls</c> as
    /// <see cref="FunctionCallContent"/> and each <c>tool</c> message as a <see cref="FunctionResultContent"/>.
    /// </summary>
    public IReadOnlyList<ChatMessage> Messages(bool rendersTools = false)
    {
        if (!Body.TryGetProperty("messages", out JsonElement messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw new OpenAIErrorException(400, "'messages' is required: a non-empty array of {\"role\",\"content\"} objects.", "messages");
        var list = new List<ChatMessage>();
        int index = 0;
        foreach (JsonElement message in messages.EnumerateArray())
        {
            string param = $"messages[{index++}]";
            if (message.ValueKind != JsonValueKind.Object)
                throw new OpenAIErrorException(400, $"{param} must be an object.", param, "invalid_type");
            string? roleName = message.TryGetProperty("role", out JsonElement r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
            ChatRole role = roleName switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                "tool" when rendersTools => ChatRole.Tool,
                "tool" or "function" => throw new OpenAIErrorException(400,
                    $"{param}: '{roleName}' messages are not supported: the served model's prompt format does not render tools.", $"{param}.role"),
                _ => throw new OpenAIErrorException(400, $"{param}.role must be system, developer, user, assistant or tool.", $"{param}.role"),
            };
            bool hasCalls = message.TryGetProperty("tool_calls", out JsonElement calls) && calls.ValueKind != JsonValueKind.Null;
            if (hasCalls && (role != ChatRole.Assistant || !rendersTools))
                throw new OpenAIErrorException(400, role != ChatRole.Assistant
                    ? $"{param}: only assistant messages have tool_calls."
                    : $"{param}: tool_calls are not supported: the served model's prompt format does not render tools.", $"{param}.tool_calls");
            if (role == ChatRole.Tool)
                list.Add(new ChatMessage(ChatRole.Tool, [ResponseFormatAndToolFields.ReadToolResult(message, param, Content(message, param))]));
            else if (hasCalls)
                list.Add(new ChatMessage(role, [new TextContent(Content(message, param)), .. ResponseFormatAndToolFields.ReadToolCalls(calls, $"{param}.tool_calls")]));
            else
                list.Add(new ChatMessage(role, Content(message, param)));
        }
        return list;
    }

    /// <summary>The completions <c>prompt</c>: a string, or an array of one string.</summary>
    public string Prompt()
    {
        if (!Body.TryGetProperty("prompt", out JsonElement prompt))
            throw new OpenAIErrorException(400, "'prompt' is required: the text to continue.", "prompt");
        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String)
            prompt = prompt[0];
        if (prompt.ValueKind != JsonValueKind.String)
            throw new OpenAIErrorException(400, "prompt must be a string (or an array of one string); token arrays and several prompts are not supported.", "prompt", "invalid_type");
        return prompt.GetString()!.Length > 0 ? prompt.GetString()! : throw new OpenAIErrorException(400, "prompt is empty; GPT-2 needs some text to continue.", "prompt");
    }

    private static string Content(JsonElement message, string param)
    {
        if (!message.TryGetProperty("content", out JsonElement content) || content.ValueKind == JsonValueKind.Null)
            return "";
        if (content.ValueKind == JsonValueKind.String)
            return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array)
            throw new OpenAIErrorException(400, $"{param}.content must be a string or an array of text parts.", $"{param}.content", "invalid_type");
        var text = new System.Text.StringBuilder();
        foreach (JsonElement part in content.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out JsonElement type) || type.GetString() != "text"
                || !part.TryGetProperty("text", out JsonElement partText) || partText.ValueKind != JsonValueKind.String)
                throw new OpenAIErrorException(400, $"{param}.content: GPT-2 reads text only; each part must be {{\"type\":\"text\",\"text\":...}}.", $"{param}.content");
            text.Append(partText.GetString());
        }
        return text.ToString();
    }

    private static IReadOnlyList<string> Stops(JsonElement body)
    {
        if (!Present(body, "stop", out JsonElement stop))
            return [];
        string[] stops = stop.ValueKind switch
        {
            JsonValueKind.String => [stop.GetString()!],
            JsonValueKind.Array when stop.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String) => [.. stop.EnumerateArray().Select(s => s.GetString()!)],
            _ => throw new OpenAIErrorException(400, "stop must be a string or an array of strings.", "stop", "invalid_type"),
        };
        if (stops.Length > 4 || stops.Any(s => s.Length == 0))
            throw new OpenAIErrorException(400, "stop takes at most 4 non-empty strings.", "stop", "invalid_value");
        return stops;
    }

    private static bool Present(JsonElement body, string name, out JsonElement value) =>
        body.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    // OpenAI's logit_bias: an object of token ids (as strings, JSON's only keys) to biases from -100 to 100.
    private static Dictionary<int, double> LogitBiasOf(JsonElement body, int vocabularySize)
    {
        var bias = new Dictionary<int, double>();
        if (!Present(body, "logit_bias", out JsonElement value))
            return bias;
        if (value.ValueKind != JsonValueKind.Object)
            throw new OpenAIErrorException(400, "logit_bias must be an object mapping token ids to biases, for example {\"50256\": -100}.", "logit_bias", "invalid_type");
        foreach (JsonProperty entry in value.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int token) || token >= vocabularySize)
                throw new OpenAIErrorException(400,
                    $"logit_bias has the key '{Shorten(entry.Name)}'; each key must be a token id from 0 to {vocabularySize - 1} (GPT-2's ids, as tiktoken's r50k_base encodes).",
                    "logit_bias", "invalid_value");
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetDouble(out double b) || !double.IsFinite(b))
                throw new OpenAIErrorException(400, $"logit_bias[\"{token}\"] must be a number from -100 to 100.", "logit_bias", "invalid_type");
            if (b is < -100 or > 100)
                throw new OpenAIErrorException(400, $"logit_bias[\"{token}\"] is {b}; it must be from -100 to 100.", "logit_bias", "invalid_value");
            bias[token] = b;
        }
        return bias;
    }

    // Chat: logprobs true asks for the chosen tokens' log-probabilities, top_logprobs (0 to 20) for that many alternatives.
    private static int? ChatLogProbabilities(JsonElement body)
    {
        bool logprobs = Present(body, "logprobs", out JsonElement value) && (value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : throw new OpenAIErrorException(400, "logprobs must be true or false on the chat endpoint (send top_logprobs for alternatives).", "logprobs", "invalid_type"));
        int? top = Int(body, "top_logprobs");
        if (top is < 0 or > GenerationOptionsLimit)
            throw new OpenAIErrorException(400, $"top_logprobs must be from 0 to {GenerationOptionsLimit}, not {top}.", "top_logprobs", "invalid_value");
        if (top is not null && !logprobs)
            throw new OpenAIErrorException(400, "top_logprobs needs logprobs: true; send both, or leave top_logprobs out.", "top_logprobs", "invalid_value");
        return logprobs ? top ?? 0 : null;
    }

    // Completions: logprobs is the number of alternatives (0 to 20, vLLM's limit; OpenAI's legacy limit is 5); false asks for none.
    private static int? CompletionLogProbabilities(JsonElement body)
    {
        if (!Present(body, "logprobs", out JsonElement value) || value.ValueKind == JsonValueKind.False)
            return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int top))
            throw new OpenAIErrorException(400, $"logprobs must be an integer on the completions endpoint: how many alternatives each token reports, 0 to {GenerationOptionsLimit}.",
                "logprobs", "invalid_type");
        if (top is < 0 or > GenerationOptionsLimit)
            throw new OpenAIErrorException(400, $"logprobs must be from 0 to {GenerationOptionsLimit}, not {top}.", "logprobs", "invalid_value");
        return top;
    }

    private const int GenerationOptionsLimit = Gpt2.Torch.Generation.GenerationOptions.MaxLogProbabilities;

    // A field sent with a value other than its harmless one is refused by name, with what to send instead.
    private static void RefuseUnless(JsonElement body, string name, Func<JsonElement, bool> harmless, string reason)
    {
        if (Present(body, name, out JsonElement value) && !harmless(value))
            throw new OpenAIErrorException(400, $"'{name}' is not supported ({Shorten(value.GetRawText())} was sent): {reason}.", name, "unsupported_parameter");
    }

    private static string Shorten(string json) => json.Length <= 60 ? json : json[..57] + "...";

    private static int? Int(JsonElement body, string name)
    {
        if (!Present(body, name, out JsonElement value))
            return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int i) ? i
            : throw new OpenAIErrorException(400, $"{name} must be an integer.", name, "invalid_type");
    }

    private static double? Number(JsonElement body, string name, double min, double max, bool minInclusive)
    {
        if (!Present(body, name, out JsonElement value))
            return null;
        // TryGetDouble is false for numbers beyond double's range (1e999), so non-finite values are refused here too.
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new OpenAIErrorException(400, $"{name} must be a finite number.", name, "invalid_type");
        if (d > max || d < min || (!minInclusive && d == min))
            throw new OpenAIErrorException(400, max == double.MaxValue
                ? $"{name} must be above {min}, not {d}."
                : $"{name} must be {(minInclusive ? "from" : "above")} {min} {(minInclusive ? "to" : "and at most")} {max}, not {d}.", name, "invalid_value");
        return d;
    }
}
