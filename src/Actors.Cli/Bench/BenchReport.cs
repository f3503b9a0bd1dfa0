using System.Text.Json;
using System.Text.Json.Serialization;

namespace Actors.Cli.Bench;

/// <summary>What a benchmark run measured; the JSON names are stable for scripts.</summary>
public sealed record BenchReport
{
    [JsonPropertyName("mode")] public required string Mode { get; init; }
    [JsonPropertyName("requests")] public int Requests { get; init; }
    [JsonPropertyName("completed")] public int Completed { get; init; }
    [JsonPropertyName("rejected")] public int Rejected { get; init; }
    [JsonPropertyName("generated_tokens")] public long GeneratedTokens { get; init; }
    [JsonPropertyName("prompt_tokens")] public long PromptTokens { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    /// <summary>Wall time of the workload (start-up and warm-up excluded); the same as seconds.</summary>
    [JsonPropertyName("wall_seconds")] public double WallSeconds => Seconds;
    /// <summary>
    /// The runtime's CPU time per generated token outside forward passes, in microseconds: process CPU
    /// time over the run minus the forward passes' (their wall time times the device's threads).
    /// </summary>
    [JsonPropertyName("runtime_us_per_token")] public double RuntimeMicrosecondsPerToken { get; init; }
    [JsonPropertyName("tokens_per_second")] public double TokensPerSecond { get; init; }
    [JsonPropertyName("ttft_ms_p50")] public double TtftP50 { get; init; }
    [JsonPropertyName("ttft_ms_p99")] public double TtftP99 { get; init; }
    /// <summary>The workload's first request's TTFT (with --cold, a fresh process's first request); null if it got no token.</summary>
    [JsonPropertyName("ttft_ms_first")] public double? TtftFirst { get; init; }
    [JsonPropertyName("itl_ms_p50")] public double ItlP50 { get; init; }
    [JsonPropertyName("itl_ms_p99")] public double ItlP99 { get; init; }
    [JsonPropertyName("preemptions")] public long Preemptions { get; init; }
    [JsonPropertyName("kv_blocks_peak")] public int KvBlocksPeak { get; init; }
    [JsonPropertyName("kv_blocks_total")] public int KvBlocksTotal { get; init; }
    [JsonPropertyName("prefix_cache_hit_rate")] public double PrefixHitRate { get; init; }
    [JsonPropertyName("device_busy_fraction")] public double DeviceBusyFraction { get; init; }
    /// <summary>Time inside forward passes over wall time: 1 − this is the runtime's overhead (scheduling, messaging, sampling, waiting).</summary>
    [JsonPropertyName("forward_fraction")] public double ForwardFraction { get; init; }
    /// <summary>Per generated token: preemptions of the device compute threads, and switches of the process's other threads (Linux; <see cref="ThreadSwitches"/>).</summary>
    [JsonPropertyName("context_switches_per_token")] public SwitchesPerToken? ContextSwitchesPerToken { get; init; }
    [JsonPropertyName("stage_busy_fractions")] public double[] StageBusyFractions { get; init; } = [];
    [JsonPropertyName("transfer_seconds")] public double TransferSeconds { get; init; }
    [JsonPropertyName("layout")] public string Layout { get; init; } = "";

    public string ToJson() => JsonSerializer.Serialize(this);

    public IEnumerable<string> ToTable()
    {
        yield return $"mode                 {Mode}";
        yield return $"layout               {Layout}";
        yield return $"requests             {Completed} completed, {Rejected} rejected of {Requests}";
        yield return $"tokens               {GeneratedTokens} generated, {PromptTokens} prompt, in {Seconds:F2} s";
        yield return $"throughput           {TokensPerSecond:F1} tokens/s";
        yield return $"time to first token  p50 {TtftP50:F1} ms   p99 {TtftP99:F1} ms" + (TtftFirst is { } first ? $"   first request {first:F1} ms" : "");
        yield return $"inter-token latency  p50 {ItlP50:F2} ms   p99 {ItlP99:F2} ms";
        yield return $"KV blocks            peak {KvBlocksPeak} of {KvBlocksTotal}; prefix-cache hit rate {PrefixHitRate:P1}";
        yield return $"preemptions          {Preemptions}";
        yield return $"devices busy         {DeviceBusyFraction:P1} of wall time" + (StageBusyFractions.Length > 1 ? $" (stages: {string.Join(", ", StageBusyFractions.Select(f => f.ToString("P1")))})" : "");
        yield return $"runtime CPU          {RuntimeMicrosecondsPerToken:F1} µs per token outside forward passes";
        yield return $"forward passes       {ForwardFraction:P1} of wall time (runtime overhead {1 - ForwardFraction:P1}: scheduling, messaging, sampling, waiting)";
        if (ContextSwitchesPerToken is { } c)
            yield return $"context switches     per token: compute threads preempted {c.ComputePreempted:F2}, compute threads waiting {c.ComputeWaits:F2}, other threads {c.Other:F2}";
        if (TransferSeconds > 0) yield return $"transfers            {TransferSeconds * 1000:F1} ms in total";
    }

    public static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return 0;
        values.Sort();
        double rank = p / 100.0 * (values.Count - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return values[lo] + (values[hi] - values[lo]) * (rank - lo);
    }
}

public sealed record SwitchesPerToken(
    [property: JsonPropertyName("compute_preempted")] double ComputePreempted,
    [property: JsonPropertyName("compute_waits")] double ComputeWaits,
    [property: JsonPropertyName("other_threads")] double Other);
