using Microsoft.ML.Data;

namespace Microsoft.ML.Gpt2;

/// <summary>
/// Observes <c>MLContext.CancelExecution()</c> from outside ML.NET. In Microsoft.ML 5.0.1 the cancellation flag
/// (<c>ICancelable</c>) and <c>Contracts.CheckAlive</c> are internal, but ML.NET's own estimators check the flag when
/// they fit, so fitting a tiny min-max normalizer (about half a millisecond) throws
/// <see cref="OperationCanceledException"/> exactly when the context was cancelled.
/// </summary>
internal sealed class MLContextCancellation
{
    private sealed class ProbeRow
    {
        public float Value { get; set; }
    }

    private readonly IDataView _probeData;
    private readonly IEstimator<ITransformer> _probe;

    public MLContextCancellation(MLContext mlContext)
    {
        _probeData = mlContext.Data.LoadFromEnumerable([new ProbeRow { Value = 1 }]);
        _probe = mlContext.Transforms.NormalizeMinMax(nameof(ProbeRow.Value));
    }

    /// <summary>Throws <see cref="OperationCanceledException"/> when the context has been cancelled.</summary>
    public void ThrowIfCancelled() => _probe.Fit(_probeData);
}
