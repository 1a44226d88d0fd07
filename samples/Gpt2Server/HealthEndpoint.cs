using Gpt2Server.Wire;

namespace Gpt2Server;

/// <summary><c>GET /health</c>: the served model, the engine and how many requests are admitted.</summary>
internal sealed class HealthEndpoint(ServedModel served, AdmissionControl admission)
{
    public Task HandleAsync(HttpContext context) => JsonResponses.WriteAsync(context, 200,
        new HealthReport("ok", served.ModelId, admission.Admitted, admission.MaxQueue, served.Service.EngineName,
            served.Service.PeakContinuousBatchSize, served.Classifier is not null),
        Gpt2ServerJsonContext.Default.HealthReport);
}
