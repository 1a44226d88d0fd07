using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Tokenization;

/// <summary>
/// The tokenizer of a language model of any family: GPT-2's (<see cref="Gpt2Tokenizer"/>) or one read from a Hugging Face
/// <c>tokenizer.json</c> with its <c>tokenizer_config.json</c> (<see cref="HuggingFaceTokenizer"/>: Llama 3, SmolLM2,
/// Qwen2.5, Qwen3). Generation, training, classification and the chat client work on this type.
/// </summary>
/// <remarks>
/// Special-token strings in text become special tokens only when the caller allows it, so untrusted text can never inject
/// one. <see cref="Encode"/> adds nothing of its own (no beginning-of-text token): callers that build a model's input add
/// <see cref="BeginningOfTextId"/> where the family's post-processor would.
/// </remarks>
public abstract class LanguageModelTokenizer
{
    /// <summary>Number of token ids, special and added tokens included.</summary>
    public abstract int VocabSize { get; }

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer (special tokens recognised).</summary>
    public abstract Tokenizer Tokenizer { get; }

    /// <summary>
    /// The end-of-text token (<c>eos_token</c>): what separates documents in pretraining data, ends instruction responses,
    /// pads batches when the model has no padding token, and stops generation by default.
    /// </summary>
    public abstract int EndOfTextId { get; }

    /// <summary>The end-of-text token's text (<c>&lt;|endoftext|&gt;</c> for GPT-2 and Qwen, <c>&lt;|end_of_text|&gt;</c> for Llama 3).</summary>
    public abstract string EndOfText { get; }

    /// <summary>
    /// The token the family's post-processor puts before every encoded text (Llama 3's <c>&lt;|begin_of_text|&gt;</c>),
    /// or null when it puts none (GPT-2, Qwen).
    /// </summary>
    public virtual int? BeginningOfTextId => null;

    /// <summary>
    /// The <c>bos_token</c> text of <c>tokenizer_config.json</c>, which chat templates write where a conversation begins
    /// (Llama 3's <c>&lt;|begin_of_text|&gt;</c>), or null when the tokenizer names none; by default the text of
    /// <see cref="BeginningOfTextId"/>.
    /// </summary>
    public virtual string? BeginningOfText => BeginningOfTextId is int id ? Decode([id]) : null;

    /// <summary>The padding token (<c>pad_token</c>), or <see cref="EndOfTextId"/> when the tokenizer names none.</summary>
    public virtual int PaddingId => EndOfTextId;

    /// <summary>
    /// Tokens that end a turn or a text besides <see cref="EndOfTextId"/> (Qwen's <c>&lt;|im_end|&gt;</c>, Llama 3's
    /// <c>&lt;|eot_id|&gt;</c> and <c>&lt;|eom_id|&gt;</c>): generation stops at any of them and at <see cref="EndOfTextId"/>.
    /// </summary>
    public virtual IReadOnlyList<int> EndOfTurnIds => [];

    /// <summary>
    /// The special tokens: control tokens that are never text (structured output masks them); by default the
    /// end-of-text and end-of-turn tokens.
    /// </summary>
    internal virtual IReadOnlyCollection<int> SpecialTokenIds => [EndOfTextId, .. EndOfTurnIds];

    /// <summary>The Jinja chat template of <c>tokenizer_config.json</c>, or null when the model has none (GPT-2).</summary>
    public virtual string? ChatTemplate => null;

    /// <summary>Token ids of <paramref name="text"/>, with no beginning-of-text token added.</summary>
    /// <param name="text">Any string; an empty string gives no tokens.</param>
    /// <param name="allowSpecialTokens">Whether special-token strings in the text become their tokens; otherwise they are ordinary text.</param>
    public abstract int[] Encode(string text, bool allowSpecialTokens = false);

    /// <summary>
    /// Token ids of <paramref name="text"/> as the model reads a text on its own: <see cref="BeginningOfTextId"/> first
    /// where the family has one (what Hugging Face's tokenizers add by default), then <see cref="Encode"/>'s ids.
    /// </summary>
    public int[] EncodeWithBeginningOfText(string text, bool allowSpecialTokens = false) =>
        BeginningOfTextId is int begin ? [begin, .. Encode(text, allowSpecialTokens)] : Encode(text, allowSpecialTokens);

    /// <summary>
    /// The bytes of one token: a byte-level token may hold part of a UTF-8 character (emoji and CJK characters are split
    /// across tokens), so text decoded token by token must gather bytes until they form whole characters; special and
    /// added tokens give their text's UTF-8 bytes.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is outside [0, <see cref="VocabSize"/>).</exception>
    public abstract ReadOnlySpan<byte> TokenBytes(int id);

    /// <summary>The text of <paramref name="ids"/> (special tokens as their text); bytes that do not form valid UTF-8 become U+FFFD.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside [0, <see cref="VocabSize"/>).</exception>
    public abstract string Decode(IEnumerable<int> ids);
}
