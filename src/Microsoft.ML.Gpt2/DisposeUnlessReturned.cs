namespace Microsoft.ML.Gpt2;

/// <summary>
/// Frees a native model when a <c>Fit</c> fails, is cancelled or diverges: the model is disposed at the end of the
/// <c>using</c> scope unless <see cref="Return{T}"/> handed it over with the fitted transformer.
/// </summary>
/// <remarks>
/// Use: <c>using var owned = new DisposeUnlessReturned(body);</c>, <c>owned.Owner = head;</c> once the head owns the body,
/// and <c>return owned.Return(new Transformer(...));</c>. A null owner (a model the caller gave and keeps owning) is never disposed.
/// </remarks>
internal sealed class DisposeUnlessReturned(IDisposable? owner) : IDisposable
{
    /// <summary>What is disposed on failure; set it to whatever owns the model now (a head that owns its body).</summary>
    public IDisposable? Owner { get; set; } = owner;

    /// <summary>Keeps the model alive: <paramref name="result"/> owns it from now on.</summary>
    public T Return<T>(T result)
    {
        Owner = null;
        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        IDisposable? owner = Owner;
        Owner = null;
        owner?.Dispose();
    }
}
