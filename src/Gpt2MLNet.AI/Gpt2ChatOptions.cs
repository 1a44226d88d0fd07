using System.Collections;
using System.Globalization;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI;

/// <summary>
/// The one mapping from Microsoft.Extensions.AI's <see cref="ChatOptions"/> to <see cref="GenerationOptions"/>, used by
/// <see cref="Gpt2ChatClient"/> and by the sample server's chat and completions endpoints alike.
/// </summary>
/// <remarks>
/// <para><see cref="ChatOptions.MaxOutputTokens"/>, <see cref="ChatOptions.Temperature"/>, <see cref="ChatOptions.TopP"/>,
/// <see cref="ChatOptions.TopK"/>, <see cref="ChatOptions.FrequencyPenalty"/>, <see cref="ChatOptions.PresencePenalty"/>,
/// <see cref="ChatOptions.Seed"/> and <see cref="ChatOptions.StopSequences"/> (stop strings) map to the field of the
/// same meaning. What <see cref="ChatOptions"/> lacks is read by name from <see cref="ChatOptions.AdditionalProperties"/>,
/// the way OllamaSharp reads <c>num_ctx</c>, with the names of the OpenAI and vLLM request fields:
/// <see cref="TopKKey"/>, <see cref="MinPKey"/>, <see cref="RepetitionPenaltyKey"/>, <see cref="LogitBiasKey"/> (token id to
/// bias: an <c>IDictionary</c> keyed by int, long or string, or a JSON object), <see cref="LogProbabilitiesKey"/> (bool) and
/// <see cref="TopLogProbabilitiesKey"/> (0 to 20 alternatives, with <see cref="LogProbabilitiesKey"/> true). Numbers may
/// arrive as int, long, float, double, decimal or <see cref="JsonElement"/> (as they do after a JSON round trip).</para>
/// <para>Nothing is dropped silently: an unknown additional property is refused with a <see cref="NotSupportedException"/>
/// that lists the known ones, a value of the wrong type with an <see cref="ArgumentException"/> that names the key and the
/// type expected, and every option a local model cannot honour (reasoning, conversation ids, background responses,
/// continuation tokens) with a <see cref="NotSupportedException"/> naming it.</para>
/// <para><see cref="ChatOptions.ResponseFormat"/> constrains decoding (<see cref="GenerationOptions.StructuredOutput"/>):
/// <see cref="ChatResponseFormat.Json"/> to any JSON object (<see cref="StructuredOutput.JsonObject"/>),
/// <see cref="ChatResponseFormat.ForJsonSchema(JsonElement, string?, string?)"/> to a document that validates against the
/// schema (<see cref="StructuredOutput.ForJsonSchema"/>), <see cref="ChatResponseFormat.Text"/> or null to nothing.
/// <see cref="ChatOptions.ToolMode"/> <see cref="ChatToolMode.RequireAny"/> or <see cref="ChatToolMode.RequireSpecific"/>
/// constrains the answer to one call of one of <see cref="ChatOptions.Tools"/> (the named one), written as the prompt
/// format's template writes calls: <c>&lt;tool_call&gt;\n{"name": ..., "arguments": ...}\n&lt;/tool_call&gt;</c> for
/// Hermes-style templates (Qwen2.5, Qwen3), the bare JSON <c>{"name": ..., "parameters": ...}</c> for Llama 3.1's and
/// 3.2's, with the arguments valid for the function's <see cref="AIFunctionDeclaration.JsonSchema"/>; in auto mode (null or
/// <see cref="ChatToolMode.Auto"/>) the model writes freely and <see cref="ToolCallReader"/> finds its calls. Whether the
/// model's template renders tools at all is the prompt format's business (<see cref="ChatPromptFormat.Render(IEnumerable{ChatMessage}, ChatOptions?)"/>
/// refuses them otherwise). A required tool call takes precedence over the response format for its turn; with tools in
/// auto mode, a JSON response format constrains the answer to the document, as vLLM does, so the model answers rather than
/// calls (<c>FunctionInvokingChatClient</c> requires a call first, then asks in auto mode for the structured answer).</para>
/// <para><see cref="ChatOptions.Instructions"/> is the prompt format's business and <see cref="ChatOptions.ModelId"/> the
/// client's, so both are left to the caller, as is <see cref="ChatOptions.RawRepresentationFactory"/> (the caller passes
/// what it returns as the defaults).</para>
/// </remarks>
public static class Gpt2ChatOptions
{
    /// <summary>vLLM's <c>top_k</c>: sample among this many most likely tokens; -1 or 0 for no limit (an alternative to <see cref="ChatOptions.TopK"/>).</summary>
    public const string TopKKey = "top_k";

    /// <summary>vLLM's <c>min_p</c> (0 to 1): <see cref="GenerationOptions.MinP"/>.</summary>
    public const string MinPKey = "min_p";

    /// <summary>vLLM's and Hugging Face's <c>repetition_penalty</c> (above 0; 1 for none): <see cref="GenerationOptions.RepetitionPenalty"/>.</summary>
    public const string RepetitionPenaltyKey = "repetition_penalty";

    /// <summary>OpenAI's <c>logit_bias</c>: token id to a bias from -100 to 100, <see cref="GenerationOptions.LogitBias"/>.</summary>
    public const string LogitBiasKey = "logit_bias";

    /// <summary>
    /// OpenAI's <c>logprobs</c>: true asks for each generated token's log-probability (<see cref="GenerationOptions.LogProbabilities"/>);
    /// in a response, the key under which <see cref="Gpt2ChatClient"/> returns them.
    /// </summary>
    public const string LogProbabilitiesKey = "logprobs";

    /// <summary>OpenAI's <c>top_logprobs</c> (0 to 20): how many most likely alternatives each token reports; needs <see cref="LogProbabilitiesKey"/> true.</summary>
    public const string TopLogProbabilitiesKey = "top_logprobs";

    /// <summary>Every additional property the mapping understands.</summary>
    public static IReadOnlyList<string> AdditionalPropertyKeys { get; } =
        [TopKKey, MinPKey, RepetitionPenaltyKey, LogitBiasKey, LogProbabilitiesKey, TopLogProbabilitiesKey];

    /// <summary>
    /// <paramref name="defaults"/> with what <paramref name="options"/> set (see the remarks); <paramref name="defaults"/>
    /// itself when <paramref name="options"/> is null. The result is not validated against a model: call
    /// <see cref="GenerationOptions.Validate(int)"/> before generating.
    /// </summary>
    /// <param name="options">The caller's chat options, or null.</param>
    /// <param name="defaults">What options that are not set keep.</param>
    /// <param name="format">
    /// The prompt format the tools are offered with, whose template decides how a required call is written (Hermes tags
    /// or Llama's bare JSON); needed for a required tool mode (<see cref="Gpt2ChatClient.Format"/>), which is refused
    /// without it.
    /// </param>
    /// <exception cref="NotSupportedException">An option a local model cannot honour, or an unknown additional property, was set.</exception>
    /// <exception cref="ArgumentException">
    /// An additional property has a value of the wrong type or out of range, or a required tool mode names no offered function.
    /// </exception>
    public static GenerationOptions ToGenerationOptions(ChatOptions? options, GenerationOptions defaults, ChatPromptFormat? format = null)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        if (options is null)
            return defaults;
        StructuredOutput? structured = StructuredOutputOf(options, format);
        Refuse(options.Reasoning is not null, nameof(ChatOptions.Reasoning), "GPT-2 has no reasoning mode");
        Refuse(options.ConversationId is not null, nameof(ChatOptions.ConversationId), "the client keeps no conversations; send the whole history in the messages");
        Refuse(options.AllowBackgroundResponses is true, nameof(ChatOptions.AllowBackgroundResponses), "responses are generated while you wait");
        Refuse(options.ContinuationToken is not null, nameof(ChatOptions.ContinuationToken), "responses are generated while you wait");

        GenerationOptions mapped = defaults with
        {
            MaxNewTokens = options.MaxOutputTokens ?? defaults.MaxNewTokens,
            Temperature = Exact(options.Temperature) ?? defaults.Temperature,
            TopP = Exact(options.TopP) ?? defaults.TopP,
            TopK = options.TopK ?? defaults.TopK,
            FrequencyPenalty = Exact(options.FrequencyPenalty) ?? defaults.FrequencyPenalty,
            PresencePenalty = Exact(options.PresencePenalty) ?? defaults.PresencePenalty,
            Seed = options.Seed ?? defaults.Seed,
            StopStrings = options.StopSequences is { Count: > 0 } stops ? [.. stops] : defaults.StopStrings,
            StructuredOutput = structured ?? defaults.StructuredOutput,
        };
        return options.AdditionalProperties is { Count: > 0 } properties ? WithAdditionalProperties(mapped, properties, options.TopK) : mapped;
    }

    // A required tool call constrains the answer to one call (the format's frame around a JSON object naming a function and
    // holding arguments that satisfy its schema); otherwise a JSON response format constrains it to a document (with tools
    // in auto mode too, as vLLM does: the answer is then the document, not a call); text leaves it free.
    private static StructuredOutput? StructuredOutputOf(ChatOptions options, ChatPromptFormat? format)
    {
        if (options.ToolMode is RequiredChatToolMode required)
        {
            ToolCallFormat toolCalls = format is null
                ? throw new ArgumentException("ChatOptions.ToolMode requires a tool call, which is written as the model's chat template writes calls; " +
                    "pass the ChatPromptFormat the tools are offered with (Gpt2ChatClient.Format).", nameof(format))
                : format.ToolCallFormat ?? throw new NotSupportedException(
                    $"ChatOptions.ToolMode requires a tool call, but the prompt format '{format.Name}' does not render tools; " +
                    $"tools need a template that writes calls as {ToolCallFormat.KnownDescriptions}.");
            if (options.Tools is not { Count: > 0 })
                throw new ArgumentException(
                    $"ChatOptions.ToolMode is {(required.RequiredFunctionName is null ? "RequireAny" : $"RequireSpecific(\"{required.RequiredFunctionName}\")")} but ChatOptions.Tools is empty; offer the tools to call.",
                    nameof(ChatOptions.ToolMode));
            IReadOnlyList<AIFunctionDeclaration> functions = ToolCallFormat.Functions(options.Tools!);
            if (required.RequiredFunctionName is string name)
            {
                functions = [.. functions.Where(f => f.Name == name)];
                if (functions.Count == 0)
                    throw new ArgumentException(
                        $"ChatOptions.ToolMode requires the function '{name}', which is not in ChatOptions.Tools ({string.Join(", ", options.Tools!.Select(t => $"'{t.Name}'"))}).",
                        nameof(ChatOptions.ToolMode));
            }
            return toolCalls.Constraint(functions);
        }
        return options.ResponseFormat switch
        {
            null or ChatResponseFormatText => null,
            ChatResponseFormatJson { Schema: JsonElement schema } => StructuredOutput.ForJsonSchema(schema),
            ChatResponseFormatJson => StructuredOutput.JsonObject,
            ChatResponseFormat other => throw new NotSupportedException($"ChatOptions.ResponseFormat {other.GetType().Name} is not supported; use Text, Json or ForJsonSchema."),
        };
    }

    private static GenerationOptions WithAdditionalProperties(GenerationOptions options, AdditionalPropertiesDictionary properties, int? chatTopK)
    {
        string[] unknown = [.. properties.Keys.Where(key => !AdditionalPropertyKeys.Contains(key, StringComparer.Ordinal))];
        if (unknown.Length > 0)
            throw new NotSupportedException(
                $"ChatOptions.AdditionalProperties {string.Join(", ", unknown.Select(key => $"'{key}'"))} {(unknown.Length == 1 ? "is" : "are")} not supported " +
                $"by {nameof(Gpt2ChatClient)}; the known ones are {string.Join(", ", AdditionalPropertyKeys)}.");

        if (Present(properties, TopKKey, out object? topKValue))
        {
            long topK = Integer(topKValue, Where(TopKKey), "the number of most likely tokens to sample among, or -1 (or 0) for no limit");
            if (topK < -1 || topK > int.MaxValue)
                throw OutOfRange(TopKKey, topK, "a number of tokens, or -1 (or 0) for no limit");
            int? limit = topK > 0 ? (int)topK : null;
            if (chatTopK is not null && chatTopK != limit)
                throw new ArgumentException($"ChatOptions.TopK is {chatTopK} but {Where(TopKKey)} is {topK}; set one of them.", nameof(ChatOptions.AdditionalProperties));
            options = options with { TopK = limit };
        }
        if (Present(properties, MinPKey, out object? minP))
            options = options with { MinP = Number(minP, Where(MinPKey)) };
        if (Present(properties, RepetitionPenaltyKey, out object? repetition))
            options = options with { RepetitionPenalty = Number(repetition, Where(RepetitionPenaltyKey)) };
        if (Present(properties, LogitBiasKey, out object? bias))
            options = options with { LogitBias = LogitBias(bias) };

        bool? logProbabilities = Present(properties, LogProbabilitiesKey, out object? asked)
            ? asked switch
            {
                bool b => b,
                JsonElement { ValueKind: JsonValueKind.True or JsonValueKind.False } json => json.GetBoolean(),
                _ => throw WrongType(Where(LogProbabilitiesKey), asked, "a bool (true to return each token's log-probability)"),
            }
            : null;
        if (Present(properties, TopLogProbabilitiesKey, out object? topValue))
        {
            long top = Integer(topValue, Where(TopLogProbabilitiesKey), $"the number of alternatives each token reports, 0 to {GenerationOptions.MaxLogProbabilities}");
            if (top is < 0 or > GenerationOptions.MaxLogProbabilities)
                throw OutOfRange(TopLogProbabilitiesKey, top, $"from 0 to {GenerationOptions.MaxLogProbabilities}");
            if (logProbabilities is not true)
                throw new ArgumentException(
                    $"{Where(TopLogProbabilitiesKey)} needs {Where(LogProbabilitiesKey)} = true, as OpenAI's API does.",
                    nameof(ChatOptions.AdditionalProperties));
            return options with { LogProbabilities = (int)top };
        }
        return logProbabilities is bool wanted ? options with { LogProbabilities = wanted ? 0 : null } : options;
    }

    private static bool Present(AdditionalPropertiesDictionary properties, string key, out object? value) =>
        properties.TryGetValue(key, out value) && value is not null and not JsonElement { ValueKind: JsonValueKind.Null };

    // A float holds no exact decimal such as 0.7: take the shortest decimal that round-trips it (what the caller wrote),
    // so that ChatOptions { Temperature = 0.7f } samples exactly as GenerationOptions { Temperature = 0.7 } does.
    private static double? Exact(float? value) =>
        value is float f ? double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : null;

    private static string Where(string key) => $"AdditionalProperties['{key}']";

    private static double Number(object? value, string where) => value switch
    {
        double d => d,
        float f => Exact(f)!.Value,
        decimal m => (double)m,
        int i => i,
        long l => l,
        short s => s,
        byte b => b,
        JsonElement { ValueKind: JsonValueKind.Number } json when json.TryGetDouble(out double d) => d,
        _ => throw WrongType(where, value, "a number"),
    };

    private static long Integer(object? value, string where, string meaning) => value switch
    {
        int i => i,
        long l => l,
        short s => s,
        byte b => b,
        double d when d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
        float f when f == MathF.Floor(f) && Math.Abs(f) < 1e7 => (long)f,
        decimal m when m == decimal.Floor(m) && Math.Abs(m) < 1e15m => (long)m,
        JsonElement { ValueKind: JsonValueKind.Number } json when json.TryGetInt64(out long l) => l,
        JsonElement { ValueKind: JsonValueKind.Number } json when json.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
        _ => throw WrongType(where, value, $"an integer: {meaning}"),
    };

    private static Dictionary<int, double> LogitBias(object? value)
    {
        var bias = new Dictionary<int, double>();
        void Add(object? key, object? entry)
        {
            int token = key switch
            {
                int i => i,
                long l when l is >= 0 and <= int.MaxValue => (int)l,
                string s when int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) => parsed,
                _ => throw new ArgumentException(
                    $"{Where(LogitBiasKey)} has the key {Describe(key)}; each key must be a token id (an int, a long or a string of digits).",
                    nameof(ChatOptions.AdditionalProperties)),
            };
            bias[token] = Number(entry, $"{Where(LogitBiasKey)}[{token}]");
        }

        switch (value)
        {
            case JsonElement { ValueKind: JsonValueKind.Object } json:
                foreach (JsonProperty property in json.EnumerateObject())
                    Add(property.Name, property.Value);
                break;
            case IDictionary dictionary:
                foreach (DictionaryEntry entry in dictionary)
                    Add(entry.Key, entry.Value);
                break;
            case IEnumerable<KeyValuePair<int, double>> pairs:   // an IReadOnlyDictionary<int, double> that is not an IDictionary
                foreach ((int token, double entry) in pairs)
                    Add(token, entry);
                break;
            default:
                throw WrongType(Where(LogitBiasKey), value, "a map of token id to bias (an IDictionary keyed by int, long or string, or a JSON object)");
        }
        return bias;
    }

    private static ArgumentException WrongType(string where, object? value, string expected) =>
        new($"{where} is {Describe(value)}; it must be {expected}.", nameof(ChatOptions.AdditionalProperties));

    private static ArgumentOutOfRangeException OutOfRange(string key, long value, string mustBe) =>
        new(nameof(ChatOptions.AdditionalProperties), value, $"{Where(key)} is {value}; it must be {mustBe}.");

    private static string Describe(object? value) => value switch
    {
        null => "null",
        JsonElement json => $"the JSON {json.ValueKind.ToString().ToLowerInvariant()} {json.GetRawText()}",
        string s => $"the string \"{s}\"",
        _ => $"the {value.GetType().Name} {Convert.ToString(value, CultureInfo.InvariantCulture)}",
    };

    private static void Refuse(bool condition, string option, string reason)
    {
        if (condition)
            throw new NotSupportedException($"ChatOptions.{option} is not supported by {nameof(Gpt2ChatClient)}: {reason}.");
    }
}
