namespace Gpt2.Torch.Tokenization;

/// <summary>
/// The contents of the files a <see cref="HuggingFaceTokenizer"/> is read from: <c>tokenizer.json</c> and, when the
/// folder had them, <c>tokenizer_config.json</c>, <c>generation_config.json</c> and <c>chat_template.jinja</c>'s text.
/// </summary>
internal sealed record HuggingFaceTokenizerFiles(byte[] TokenizerJson, byte[]? TokenizerConfigJson, byte[]? GenerationConfigJson, string? ChatTemplate);
