using System.Reflection;
using Gpt2.Torch.Tokenization;
using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// The tokenizing and detokenizing steps of a saved chain, as the contract of the row width the model needs. GPT-2's
/// built-in tokenizer keeps the contracts of the zips saved before other tokenizers could travel (<c>Gpt2MLNet.TextToTokenIds.v1</c>
/// and its kin, which need no data); any other tokenizer travels in the zip (<see cref="SavedTokenizer"/>) and the
/// <c>Gpt2MLNet.SavedTokenizer.*</c> contracts read it from its column.
/// </summary>
internal static class SavedTokenization
{
    /// <summary>Whether a zip can carry <paramref name="tokenizer"/>.</summary>
    public static bool CanCarry(LanguageModelTokenizer tokenizer) => IsBuiltIn(tokenizer) || SavedTokenizer.CanCarry(tokenizer);

    /// <summary>Single texts, right-padded, into <see cref="TokenIdsColumns"/> of <paramref name="width"/>.</summary>
    public static IEstimator<ITransformer> Text(MLContext mlContext, LanguageModelTokenizer tokenizer, int width) => IsBuiltIn(tokenizer)
        ? width switch
        {
            TokenIds1024.Width => Step(mlContext, new TextToTokenIdsMapping()),
            TokenIds2048.Width => Step(mlContext, new TextToTokenIds2048Mapping()),
            TokenIds4096.Width => Step(mlContext, new TextToTokenIds4096Mapping()),
            _ => throw NoContract(width),
        }
        : SavedTokenizer.Column(mlContext, tokenizer, TextToTokenIdsInput.TextColumnName).Append(width switch
        {
            TokenIds1024.Width => Step(mlContext, new SavedTokenizerTextToTokenIdsMapping()),
            TokenIds2048.Width => Step(mlContext, new SavedTokenizerTextToTokenIds2048Mapping()),
            TokenIds4096.Width => Step(mlContext, new SavedTokenizerTextToTokenIds4096Mapping()),
            _ => throw NoContract(width),
        });

    /// <summary>Text pairs, right-padded, into <see cref="TokenIdsColumns"/> of <paramref name="width"/>.</summary>
    public static IEstimator<ITransformer> Pair(MLContext mlContext, LanguageModelTokenizer tokenizer, int width) => IsBuiltIn(tokenizer)
        ? width switch
        {
            TokenIds1024.Width => Step(mlContext, new TextPairToTokenIdsMapping()),
            TokenIds2048.Width => Step(mlContext, new TextPairToTokenIds2048Mapping()),
            TokenIds4096.Width => Step(mlContext, new TextPairToTokenIds4096Mapping()),
            _ => throw NoContract(width),
        }
        : SavedTokenizer.Column(mlContext, tokenizer, TextToTokenIdsInput.TextColumnName).Append(width switch
        {
            TokenIds1024.Width => Step(mlContext, new SavedTokenizerTextPairToTokenIdsMapping()),
            TokenIds2048.Width => Step(mlContext, new SavedTokenizerTextPairToTokenIds2048Mapping()),
            TokenIds4096.Width => Step(mlContext, new SavedTokenizerTextPairToTokenIds4096Mapping()),
            _ => throw NoContract(width),
        });

    /// <summary>Prompts, left-padded, into <see cref="TokenIdsColumns"/> of <paramref name="width"/>.</summary>
    public static IEstimator<ITransformer> Prompt(MLContext mlContext, LanguageModelTokenizer tokenizer, int width) => IsBuiltIn(tokenizer)
        ? width switch
        {
            TokenIds1024.Width => Step(mlContext, new PromptToTokenIdsMapping()),
            TokenIds2048.Width => Step(mlContext, new PromptToTokenIds2048Mapping()),
            TokenIds4096.Width => Step(mlContext, new PromptToTokenIds4096Mapping()),
            _ => throw NoContract(width),
        }
        : SavedTokenizer.Column(mlContext, tokenizer, PromptToTokenIdsInput.PromptColumnName).Append(width switch
        {
            TokenIds1024.Width => Step(mlContext, new SavedTokenizerPromptToTokenIdsMapping()),
            TokenIds2048.Width => Step(mlContext, new SavedTokenizerPromptToTokenIds2048Mapping()),
            TokenIds4096.Width => Step(mlContext, new SavedTokenizerPromptToTokenIds4096Mapping()),
            TokenIds8192.Width => Step(mlContext, new SavedTokenizerPromptToTokenIds8192Mapping()),
            TokenIds16384.Width => Step(mlContext, new SavedTokenizerPromptToTokenIds16384Mapping()),
            TokenIds32768.Width => Step(mlContext, new SavedTokenizerPromptToTokenIds32768Mapping()),
            TokenIds65536.Width => Step(mlContext, new SavedTokenizerPromptToTokenIds65536Mapping()),
            TokenIds131072.Width => Step(mlContext, new SavedTokenizerPromptToTokenIds131072Mapping()),
            _ => throw NoContract(width),
        });

    /// <summary>
    /// The width of the prompt rows for a model of <paramref name="contextLength"/>: GPT-2's contracts go to 4096, a
    /// tokenizer the zip carries to <see cref="LongPromptRows"/>' widest, so that the published families' contexts fit.
    /// </summary>
    public static int PromptWidth(LanguageModelTokenizer tokenizer, int contextLength) =>
        IsBuiltIn(tokenizer) ? TokenIdsColumns.WidthFor(contextLength) : LongPromptRows.WidthFor(contextLength);

    /// <summary>Generated ids into <see cref="TokenIdsToTextOutput"/>'s columns, after <see cref="Prompt"/> with the same tokenizer.</summary>
    public static IEstimator<ITransformer> GeneratedText(MLContext mlContext, LanguageModelTokenizer tokenizer) => IsBuiltIn(tokenizer)
        ? Step(mlContext, new TokenIdsToTextMapping())
        : Step(mlContext, new SavedTokenizerTokenIdsToTextMapping());

    /// <summary>The columns the steps for <paramref name="tokenizer"/> add besides the token ids, for the chain to drop.</summary>
    public static string[] HelperColumns(LanguageModelTokenizer tokenizer) =>
        IsBuiltIn(tokenizer) ? [] : [SavedTokenizer.SlotColumnName, SavedTokenizer.ColumnName];

    private static bool IsBuiltIn(LanguageModelTokenizer tokenizer) => ReferenceEquals(tokenizer, Gpt2Tokenizer.Default);

    private static ArgumentOutOfRangeException NoContract(int width) => new(nameof(width), width, "No tokenizing contract has this width.");

    private static IEstimator<ITransformer> Step<TSource, TRow>(MLContext mlContext, CustomMappingFactory<TSource, TRow> factory)
        where TSource : class, new() where TRow : class, new() =>
        mlContext.Transforms.CustomMapping(factory.GetMapping(), factory.GetType().GetCustomAttribute<CustomMappingFactoryAttributeAttribute>()!.ContractName);
}
