using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// Observes <c>MLContext.CancelExecution()</c> from outside ML.NET. In Microsoft.ML 5.0 and 6.0 the cancellation flag
/// (<c>ICancelable</c>) and <c>Contracts.CheckAlive</c> are internal, but ML.NET's own estimators check the flag when
/// they fit, so fitting a tiny min-max normalizer (about half a millisecond) throws
/// <see cref="OperationCanceledException"/> exactly when the context was cancelled. A context that a catalog extension
/// made for the caller's (<see cref="CatalogEnvironment"/>) is cancelled first when the caller's was.
/// </summary>
internal sealed class MLContextCancellation
{
    private sealed class ProbeRow
    {
        public float Value { get; set; }
    }

    private readonly MLContext _mlContext;
    private readonly CatalogEnvironment? _caller;
    private readonly IDataView _probeData;
    private readonly IEstimator<ITransformer> _probe;

    public MLContextCancellation(MLContext mlContext)
    {
        _mlContext = mlContext;
        _caller = CatalogEnvironment.Of(mlContext);
        _probeData = mlContext.Data.LoadFromEnumerable([new ProbeRow { Value = 1 }]);
        _probe = mlContext.Transforms.NormalizeMinMax(nameof(ProbeRow.Value));
    }

    /// <summary>
    /// Throws <see cref="OperationCanceledException"/> when the context has been cancelled, saying so: a cancelled
    /// context stays cancelled, so the fix is a new one (ML.NET's own message is a bare "Operation was canceled.").
    /// </summary>
    public void ThrowIfCancelled()
    {
        _caller?.PropagateCancellation(_mlContext);
        try
        {
            _probe.Fit(_probeData);
        }
        catch (OperationCanceledException e)
        {
            throw new OperationCanceledException(
                "The MLContext was cancelled (MLContext.CancelExecution), and a cancelled MLContext stays cancelled: every later Fit " +
                "or generation in it stops here. Create a new MLContext to train or generate again.", e);
        }
    }
}
