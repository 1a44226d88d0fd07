using System.Text.Json;

namespace Gpt2.Torch.Templates;

/// <summary>The variables a chat template reads besides the messages and <c>add_generation_prompt</c>.</summary>
public sealed record ChatTemplateOptions
{
    /// <summary><c>bos_token</c> (tokenizer_config.json's bos_token), or null to leave it undefined.</summary>
    public string? BosToken { get; init; }

    /// <summary><c>eos_token</c> (tokenizer_config.json's eos_token), or null to leave it undefined.</summary>
    public string? EosToken { get; init; }

    /// <summary>
    /// <c>tools</c>: the tools' JSON schemas (<c>{"type": "function", "function": {...}}</c>), or null, which the template
    /// sees as none (as transformers passes it).
    /// </summary>
    public IReadOnlyList<JsonElement>? Tools { get; init; }

    /// <summary>
    /// Further variables by name (<c>enable_thinking</c>, <c>date_string</c>, ...): strings, booleans, numbers, null,
    /// <see cref="JsonElement"/>, lists and string-keyed dictionaries of these.
    /// </summary>
    public IReadOnlyDictionary<string, object?>? Variables { get; init; }

    /// <summary>The time <c>strftime_now(format)</c> formats; null for the current local time.</summary>
    public DateTimeOffset? Now { get; init; }
}
