using Microsoft.ML.Tokenizers;

namespace Gpt2.Torch.Tokenization;

// CONTRACT SKELETON: the tokenizer helper writes the loader here.

/// <summary>
/// A byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> and its <c>tokenizer_config.json</c>
/// (Llama 3, SmolLM2, Qwen2.5, Qwen3).
/// </summary>
public sealed class HuggingFaceTokenizer : LanguageModelTokenizer
{
    private HuggingFaceTokenizer() { }

    /// <summary>The tokenizer's file name in a Hugging Face model folder.</summary>
    public const string TokenizerFileName = "tokenizer.json";

    /// <summary>Reads <c>tokenizer.json</c> and, when present, <c>tokenizer_config.json</c> from <paramref name="folder"/>.</summary>
    public static HuggingFaceTokenizer Load(string folder) => throw new NotImplementedException();

    /// <inheritdoc />
    public override int VocabSize => throw new NotImplementedException();

    /// <inheritdoc />
    public override Tokenizer Tokenizer => throw new NotImplementedException();

    /// <inheritdoc />
    public override int EndOfTextId => throw new NotImplementedException();

    /// <inheritdoc />
    public override string EndOfText => throw new NotImplementedException();

    /// <inheritdoc />
    public override int[] Encode(string text, bool allowSpecialTokens = false) => throw new NotImplementedException();

    /// <inheritdoc />
    public override ReadOnlySpan<byte> TokenBytes(int id) => throw new NotImplementedException();

    /// <inheritdoc />
    public override string Decode(IEnumerable<int> ids) => throw new NotImplementedException();
}
