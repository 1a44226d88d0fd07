using Gpt2.Torch.Tokenization;
using System.ComponentModel;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Persistence;

/// <summary>The input row of the <see cref="PromptToTokenIdsMapping{TRow}"/> mappings.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class PromptToTokenIdsInput
{
    /// <summary>The input column: the prompt, built from the source columns by the steps before this one.</summary>
    public const string PromptColumnName = "Gpt2.Prompt";

    /// <summary>The prompt to tokenize.</summary>
    [ColumnName(PromptColumnName)]
    public string? Prompt { get; set; }
}

/// <summary>
/// GPT-2 tokenization of prompts as a persistable ML.NET <c>CustomMapping</c>, the first step of the saved form of the
/// generating components: the last <c>TRow.Width</c> tokens, left-padded with <c>&lt;|endoftext|&gt;</c> (generation
/// continues from the end of the row). The ONNX model then keeps the tokens that fit its context with the new ones.
/// </summary>
/// <typeparam name="TRow">The fixed-width output row.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class PromptToTokenIdsMapping<TRow> : CustomMappingFactory<PromptToTokenIdsInput, TRow> where TRow : class, ITokenIdsRow, new()
{
    /// <inheritdoc />
    public override Action<PromptToTokenIdsInput, TRow> GetMapping() => (input, output) =>
        TokenIdsColumns.Set(output, Gpt2TextEncoding.Encode(Gpt2Tokenizer.Default, input.Prompt, PromptToTokenIdsInput.PromptColumnName, TRow.Width, keepLast: true), leftPadded: true);
}

/// <summary>Prompt tokenization into 1024 ids: contract <c>Gpt2MLNet.PromptToTokenIds.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.PromptToTokenIds.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class PromptToTokenIdsMapping : PromptToTokenIdsMapping<TokenIds1024>;

/// <summary>Prompt tokenization into 2048 ids: contract <c>Gpt2MLNet.PromptToTokenIds.2048.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.PromptToTokenIds.2048.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class PromptToTokenIds2048Mapping : PromptToTokenIdsMapping<TokenIds2048>;

/// <summary>Prompt tokenization into 4096 ids: contract <c>Gpt2MLNet.PromptToTokenIds.4096.v1</c>.</summary>
[CustomMappingFactoryAttribute("Gpt2MLNet.PromptToTokenIds.4096.v1")]
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class PromptToTokenIds4096Mapping : PromptToTokenIdsMapping<TokenIds4096>;
