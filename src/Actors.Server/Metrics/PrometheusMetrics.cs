using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using Actors.Runtime;
using Actors.Runtime.Observability;

namespace Actors.Server.Metrics;

/// <summary>
/// The runtime's meter (and the few figures derived here) exported through OpenTelemetry and scraped at
/// <c>/metrics</c> in Prometheus text format. Instruments are renamed by OpenTelemetry views to vLLM's
/// names under an <c>actors_</c> prefix (vLLM's <c>vllm:num_requests_running</c> is
/// <c>actors_num_requests_running</c> here); the exporter appends the unit (<c>_milliseconds</c>,
/// <c>_bytes</c>) and <c>_total</c> to counters, as the OpenTelemetry-to-Prometheus mapping says.
/// </summary>
public static class PrometheusMetrics
{
    public const string Path = "/metrics";

    /// <summary>Runtime instrument → exported name (before the exporter's unit and _total suffixes).</summary>
    internal static readonly IReadOnlyDictionary<string, string> Renames = new Dictionary<string, string>
    {
        ["actors.scheduler.running"] = "actors.num_requests_running",
        ["actors.scheduler.waiting"] = "actors.num_requests_waiting",
        ["actors.scheduler.preemptions"] = "actors.num_preemptions",
        ["actors.tokens.prompt"] = "actors.prompt_tokens",
        ["actors.tokens.generated"] = "actors.generation_tokens",
        ["actors.requests.finished"] = "actors.request_success",
        ["actors.requests.rejected"] = "actors.request_rejected",
        ["actors.request.time_to_first_token"] = "actors.time_to_first_token",
        ["actors.request.inter_token_latency"] = "actors.inter_token_latency",
        ["actors.request.queue_time"] = "actors.request_queue_time",
        ["actors.kv.prefix_hit_rate"] = "actors.prefix_cache_hit_rate",
        ["actors.transfer.bytes"] = "actors.transfer_bytes",
        ["actors.transfer.count"] = "actors.transfers",
        ["actors.transfer.duration"] = "actors.transfer_duration",
    };

    /// <summary>Latency buckets in milliseconds, vLLM's TTFT buckets (seconds) times 1000, up to 80 s.</summary>
    internal static readonly double[] LatencyBucketsMs = [1, 5, 10, 20, 40, 60, 80, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000, 20000, 40000, 80000];

    /// <summary>
    /// Adds the OpenTelemetry meter provider with the Prometheus exporter, and the OTLP exporter
    /// (http/protobuf) when <see cref="ServerSettings.OtlpEndpoint"/> is set.
    /// </summary>
    public static IServiceCollection AddActorsMetrics(this IServiceCollection services, ServerSettings? settings = null)
    {
        services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(RuntimeMetrics.MeterName, DerivedRuntimeGauges.MeterName);
            foreach (var (from, to) in Renames)
            {
                bool latency = from is "actors.request.time_to_first_token" or "actors.request.inter_token_latency" or "actors.request.queue_time";
                metrics.AddView(from, latency
                    ? new ExplicitBucketHistogramConfiguration { Name = to, Boundaries = LatencyBucketsMs }
                    : new MetricStreamConfiguration { Name = to });
            }
            metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0); // a scrape sees the figures of that moment
            if (settings?.OtlpEndpoint is { } endpoint)
                metrics.AddOtlpExporter((exporter, reader) =>
                {
                    exporter.Endpoint = endpoint;
                    exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)Math.Max(100, settings.OtlpInterval.TotalMilliseconds);
                });
        });
        return services;
    }

    /// <summary>Maps <c>GET /metrics</c>; it sits behind the same guards (API key) as every other endpoint.</summary>
    public static WebApplication MapActorsMetrics(this WebApplication app, LlmRuntime runtime)
    {
        var gauges = new DerivedRuntimeGauges(runtime.Metrics);
        app.Lifetime.ApplicationStopped.Register(gauges.Dispose);
        app.MapPrometheusScrapingEndpoint(Path);
        return app;
    }
}

/// <summary>
/// Figures vLLM exports that the runtime's instruments hold only in parts: KV-cache usage as a fraction
/// (used / (used + free) blocks) and the prefix-cache query and hit counters, per replica.
/// </summary>
internal sealed class DerivedRuntimeGauges : IDisposable
{
    public const string MeterName = "Actors.Server";
    private readonly Meter _meter = new(MeterName);

    public DerivedRuntimeGauges(RuntimeMetrics runtime)
    {
        _meter.CreateObservableGauge("actors.kv_cache_usage_perc", () => runtime.Replicas().Select(g =>
        {
            // With a sliding-window pool the fuller of the two pools is what admission runs into.
            int used = g.BlocksUsed, total = used + g.BlocksFree, slidingUsed = g.SlidingBlocksUsed, slidingTotal = slidingUsed + g.SlidingBlocksFree;
            double usage = total == 0 ? 0 : (double)used / total;
            if (slidingTotal > 0) usage = Math.Max(usage, (double)slidingUsed / slidingTotal);
            return new Measurement<double>(usage, Replica(g));
        }), null, "Fraction of KV-cache blocks in use (1 = full; the fuller pool with a sliding-window pool)");
        _meter.CreateObservableCounter("actors.prefix_cache_queries", () => runtime.Replicas().Select(g =>
            new Measurement<long>(Interlocked.Read(ref g.PrefixQueries), Replica(g))), "{block}", "Prefix-cache lookups");
        _meter.CreateObservableCounter("actors.prefix_cache_hits", () => runtime.Replicas().Select(g =>
            new Measurement<long>(Interlocked.Read(ref g.PrefixHits), Replica(g))), "{block}", "Prefix-cache hits");
    }

    private static KeyValuePair<string, object?> Replica(ReplicaGauges g) => new("replica", g.Replica);

    public void Dispose() => _meter.Dispose();
}
