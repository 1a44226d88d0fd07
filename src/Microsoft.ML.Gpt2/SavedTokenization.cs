using System.Reflection;
using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2;

/// <summary>The tokenizing step of a saved chain, as the contract of the row width the model needs.</summary>
internal static class SavedTokenization
{
    /// <summary>Single texts, right-padded, into <see cref="TokenIdsColumns"/> of <paramref name="width"/>.</summary>
    public static IEstimator<ITransformer> Text(MLContext mlContext, int width) => width switch
    {
        TokenIds1024.Width => Step(mlContext, new TextToTokenIdsMapping()),
        TokenIds2048.Width => Step(mlContext, new TextToTokenIds2048Mapping()),
        TokenIds4096.Width => Step(mlContext, new TextToTokenIds4096Mapping()),
        _ => throw new ArgumentOutOfRangeException(nameof(width), width, "No tokenizing contract has this width."),
    };

    /// <summary>Text pairs, right-padded, into <see cref="TokenIdsColumns"/> of <paramref name="width"/>.</summary>
    public static IEstimator<ITransformer> Pair(MLContext mlContext, int width) => width switch
    {
        TokenIds1024.Width => Step(mlContext, new TextPairToTokenIdsMapping()),
        TokenIds2048.Width => Step(mlContext, new TextPairToTokenIds2048Mapping()),
        TokenIds4096.Width => Step(mlContext, new TextPairToTokenIds4096Mapping()),
        _ => throw new ArgumentOutOfRangeException(nameof(width), width, "No tokenizing contract has this width."),
    };

    /// <summary>Prompts, left-padded, into <see cref="TokenIdsColumns"/> of <paramref name="width"/>.</summary>
    public static IEstimator<ITransformer> Prompt(MLContext mlContext, int width) => width switch
    {
        TokenIds1024.Width => Step(mlContext, new PromptToTokenIdsMapping()),
        TokenIds2048.Width => Step(mlContext, new PromptToTokenIds2048Mapping()),
        TokenIds4096.Width => Step(mlContext, new PromptToTokenIds4096Mapping()),
        _ => throw new ArgumentOutOfRangeException(nameof(width), width, "No tokenizing contract has this width."),
    };

    private static IEstimator<ITransformer> Step<TSource, TRow>(MLContext mlContext, CustomMappingFactory<TSource, TRow> factory)
        where TSource : class, new() where TRow : class, new() =>
        mlContext.Transforms.CustomMapping(factory.GetMapping(), factory.GetType().GetCustomAttribute<CustomMappingFactoryAttributeAttribute>()!.ContractName);
}
