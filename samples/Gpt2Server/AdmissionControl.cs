namespace Gpt2Server;

/// <summary>
/// The bound on requests admitted, running or waiting for the model: one over <c>--max-queue</c> gets 429 at once,
/// rather than waiting unboundedly while its client times out.
/// </summary>
internal sealed class AdmissionControl(int maxQueue)
{
    private int _admitted;

    public int MaxQueue => maxQueue;

    /// <summary>How many requests hold a place now.</summary>
    public int Admitted => Volatile.Read(ref _admitted);

    /// <summary>A place in the queue, given back on disposal; throws a 429 <see cref="OpenAIErrorException"/> when full.</summary>
    public IDisposable Admit()
    {
        if (Interlocked.Increment(ref _admitted) > maxQueue)
        {
            Interlocked.Decrement(ref _admitted);
            throw new OpenAIErrorException(429, $"The server is busy: {maxQueue} requests are already running or waiting. Retry shortly.",
                code: "rate_limit_exceeded", type: "rate_limit_error");
        }
        return new Place(this);
    }

    private sealed class Place(AdmissionControl owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                Interlocked.Decrement(ref owner._admitted);
        }
    }
}
