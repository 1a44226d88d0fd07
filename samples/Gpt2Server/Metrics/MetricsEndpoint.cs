namespace Gpt2Server.Metrics;

/// <summary><c>GET /metrics</c>: the server's <see cref="ServerMetrics"/> in Prometheus' text format, open without an API key as vLLM's.</summary>
internal sealed class MetricsEndpoint(ServerMetrics metrics)
{
    public Task HandleAsync(HttpContext context)
    {
        context.Response.ContentType = PrometheusText.ContentType;
        return context.Response.WriteAsync(metrics.Scrape());
    }
}
