using Microsoft.ML.Gpt2.Persistence;

namespace Microsoft.ML.Gpt2;

/// <summary>Makes model zips saved by this package loadable.</summary>
public static class Gpt2Components
{
    /// <summary>
    /// Registers this package's persistable mappings with <paramref name="mlContext"/>; call it once before
    /// <c>mlContext.Model.Load</c> of a zip that holds a GPT-2 model. (The estimators register themselves with the
    /// context they are created from.)
    /// </summary>
    public static MLContext RegisterGpt2Components(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        mlContext.ComponentCatalog.RegisterAssembly(typeof(TextToTokenIdsMapping).Assembly);
        return mlContext;
    }
}
