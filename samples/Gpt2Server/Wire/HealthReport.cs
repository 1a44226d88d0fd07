namespace Gpt2Server.Wire;

/// <summary>The answer to <c>GET /health</c>: what is served and how busy the server is.</summary>
public sealed record HealthReport(string Status, string Model, int Admitted, int MaxQueue, string Engine,
    int PeakBatchSize, bool Classifier);
