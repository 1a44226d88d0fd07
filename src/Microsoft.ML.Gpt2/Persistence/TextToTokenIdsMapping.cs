using Gpt2.Torch.Tokenization;
using System.ComponentModel;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of the <see cref="TextToTokenIdsMapping{TRow}"/> mappings.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TextToTokenIdsInput
{
    /// <summary>The input column.</summary>
    public const string TextColumnName = "Gpt2.Text";

    /// <summary>The text to tokenize.</summary>
    [ColumnName(TextColumnName)]
    public string? Text { get; set; }
}

/// <summary>
/// GPT-2 tokenization of a text as a persistable ML.NET <c>CustomMapping</c>, the first step of the saved form of a
/// classifier: the text's first <c>TRow.Width</c> tokens, right-padded (the exported graph keeps the classifier's
/// maximum length of them).
/// </summary>
/// <typeparam name="TRow">The fixed-width output row.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class TextToTokenIdsMapping<TRow> : CustomMappingFactory<TextToTokenIdsInput, TRow> where TRow : class, ITokenIdsRow, new()
{
    /// <inheritdoc />
    public override Action<TextToTokenIdsInput, TRow> GetMapping() => (input, output) =>
        TokenIdsColumns.Set(output, Gpt2TextEncoding.Encode(Gpt2Tokenizer.Default, input.Text, TextToTokenIdsInput.TextColumnName, TRow.Width));
}

/// <summary>Tokenization into 1024 ids: contract <c>Gpt2MLNet.TextToTokenIds.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.TextToTokenIds.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TextToTokenIdsMapping : TextToTokenIdsMapping<TokenIds1024>;

/// <summary>Tokenization into 2048 ids: contract <c>Gpt2MLNet.TextToTokenIds.2048.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.TextToTokenIds.2048.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TextToTokenIds2048Mapping : TextToTokenIdsMapping<TokenIds2048>;

/// <summary>Tokenization into 4096 ids: contract <c>Gpt2MLNet.TextToTokenIds.4096.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.TextToTokenIds.4096.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TextToTokenIds4096Mapping : TextToTokenIdsMapping<TokenIds4096>;
