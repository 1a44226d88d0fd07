using System.Text;
using Gpt2.Torch.Generation;

namespace Gpt2Server.Metrics;

/// <summary>
/// The server's metrics under vLLM's names, types, labels (<c>model_name</c>, <c>engine</c>) and buckets, so that
/// dashboards and autoscalers written for vLLM read them unchanged: the scheduler's gauges
/// (<c>vllm:num_requests_running</c>, <c>vllm:num_requests_waiting</c>, <c>vllm:kv_cache_usage_perc</c>) read from the
/// host's <see cref="LanguageModelHostState"/> at each scrape; the token counters, <c>vllm:request_success_total</c> and
/// the latency histograms recorded by the endpoints, one call per request (<see cref="RecordGeneration"/>,
/// <see cref="RecordPromptTokens"/>).
/// </summary>
/// <remarks>
/// The host keeps no fixed pool of key-value blocks as vLLM does: it allocates the running batch's keys and values for
/// the positions it needs. <c>vllm:kv_cache_usage_perc</c> is therefore the positions allocated now over the most the
/// server admits, <c>--max-queue</c> generations at the full context (1 when every admitted request holds a full
/// context).
/// </remarks>
internal sealed class ServerMetrics
{
    // vLLM's buckets (vllm/v1/metrics/loggers.py).
    private static readonly double[] TimeToFirstTokenBuckets =
        [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
    private static readonly double[] InterTokenLatencyBuckets =
        [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
    private static readonly double[] RequestLatencyBuckets =
        [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0];

    private readonly LanguageModelHost _host;
    private readonly long _keyValueBudget;
    private readonly string _labels;
    private readonly PrometheusHistogram _timeToFirstToken = new("vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.", TimeToFirstTokenBuckets);
    private readonly PrometheusHistogram _interTokenLatency = new("vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.", InterTokenLatencyBuckets);
    private readonly PrometheusHistogram _requestLatency = new("vllm:e2e_request_latency_seconds",
        "Histogram of e2e request latency in seconds.", RequestLatencyBuckets);
    private long _promptTokens;
    private long _generationTokens;
    private long _stopped;
    private long _truncated;

    /// <param name="modelName">The served model's id (the <c>model_name</c> label).</param>
    /// <param name="host">The host whose scheduler state the gauges report.</param>
    /// <param name="maxQueue">The most generations admitted at once.</param>
    public ServerMetrics(string modelName, LanguageModelHost host, int maxQueue)
    {
        _host = host;
        _keyValueBudget = (long)maxQueue * host.Model.Config.ContextLength;
        _labels = PrometheusText.Labels(("model_name", modelName), ("engine", "0"));
    }

    /// <summary>
    /// Records a finished generation: its prompt and generated tokens, its finish reason, its time to first token, the
    /// gaps between its tokens and its latency, all measured by the host from the request's submission.
    /// </summary>
    public void RecordGeneration(TextGenerationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        Interlocked.Add(ref _promptTokens, result.PromptTokenCount);
        Interlocked.Add(ref _generationTokens, result.CompletionTokenCount);
        Interlocked.Increment(ref result.FinishReason == TextGenerationFinishReason.Length ? ref _truncated : ref _stopped);
        if (result.CompletionTokenCount == 0)
            return;
        _timeToFirstToken.Observe(result.TimeToFirstToken.TotalSeconds);
        // The host times the first and last tokens: each gap between them is observed as their mean.
        int gaps = result.CompletionTokenCount - 1;
        if (gaps > 0)
            _interTokenLatency.Observe((result.TimeToLastToken - result.TimeToFirstToken).TotalSeconds / gaps, gaps);
        _requestLatency.Observe(result.TimeToLastToken.TotalSeconds);
    }

    /// <summary>Records prompt tokens read without generating (embeddings), which vLLM counts as prompt tokens too.</summary>
    public void RecordPromptTokens(int count) => Interlocked.Add(ref _promptTokens, count);

    /// <summary>Every metric in Prometheus' text format.</summary>
    public string Scrape()
    {
        LanguageModelHostState state = _host.State;
        var text = new StringBuilder();
        Gauge(text, "vllm:num_requests_running", "Number of requests in model execution batches.", state.RunningGenerations);
        Gauge(text, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", state.WaitingGenerations);
        Gauge(text, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
            Math.Min(1.0, (double)state.ReservedTokenPositions / _keyValueBudget));
        Counter(text, "vllm:prompt_tokens_total", "Number of prefill tokens processed.", Interlocked.Read(ref _promptTokens));
        Counter(text, "vllm:generation_tokens_total", "Number of generation tokens processed.", Interlocked.Read(ref _generationTokens));
        PrometheusText.Family(text, "vllm:request_success_total", "counter", "Count of successfully processed requests.");
        PrometheusText.Sample(text, "vllm:request_success_total", _labels + ",finished_reason=\"stop\"", Interlocked.Read(ref _stopped));
        PrometheusText.Sample(text, "vllm:request_success_total", _labels + ",finished_reason=\"length\"", Interlocked.Read(ref _truncated));
        _timeToFirstToken.Write(text, _labels);
        _interTokenLatency.Write(text, _labels);
        _requestLatency.Write(text, _labels);
        return text.ToString();
    }

    private void Gauge(StringBuilder text, string name, string help, double value)
    {
        PrometheusText.Family(text, name, "gauge", help);
        PrometheusText.Sample(text, name, _labels, value);
    }

    private void Counter(StringBuilder text, string name, string help, long value)
    {
        PrometheusText.Family(text, name, "counter", help);
        PrometheusText.Sample(text, name, _labels, value);
    }
}
