using Microsoft.ML.Gpt2.Persistence;

namespace Microsoft.ML.Gpt2;

/// <summary>Registers this package's persistable mappings with an <see cref="MLContext"/>, for the rare loads that need it.</summary>
public static class Gpt2Components
{
    /// <summary>
    /// Registers this package's persistable mappings (the <c>Gpt2MLNet.*</c> CustomMapping contracts of <see cref="Persistence"/>)
    /// with <paramref name="mlContext"/>'s component catalog.
    /// </summary>
    /// <remarks>
    /// An ordinary application does not need this to load our zips: each CustomMapping step of a zip records the name of
    /// the assembly that holds its mapping (<c>Microsoft.ML.Gpt2</c>), and <c>mlContext.Model.Load</c> loads that assembly
    /// by name and registers it, even in a fresh process that never touched it (the package's scoring-app check proves
    /// this). Call it when that load by name cannot succeed: when this assembly was loaded into a plugin
    /// <see cref="System.Runtime.Loader.AssemblyLoadContext"/> or from bytes, so that the default context cannot resolve it.
    /// The estimators here register it with the context they are created from.
    /// </remarks>
    public static MLContext RegisterGpt2Components(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        mlContext.ComponentCatalog.RegisterAssembly(typeof(TextToTokenIdsMapping).Assembly);
        return mlContext;
    }
}
