using System.Text.Json.Serialization;

namespace Actors.Simulation.Planning;

/// <summary>
/// The planner's answer for one layout: whether it fits and, if so, the analytic throughput and
/// latency estimates. Flat and JSON-named so it prints as a table row or a JSON object alike.
/// </summary>
public sealed record LayoutEstimate
{
    [JsonPropertyName("layout")] public required string Layout { get; init; }
    [JsonPropertyName("tensor_parallel")] public int TensorParallel { get; init; }
    [JsonPropertyName("pipeline_parallel")] public int PipelineParallel { get; init; }
    [JsonPropertyName("replicas")] public int Replicas { get; init; }
    [JsonPropertyName("gpus_used")] public int GpusUsed { get; init; }
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("weights")] public required string Weights { get; init; }
    [JsonPropertyName("topology")] public required string Topology { get; init; }
    [JsonPropertyName("concurrency")] public int Concurrency { get; init; }

    [JsonPropertyName("fits")] public bool Fits { get; init; }
    /// <summary>Largest per-device need, GB (10^9 bytes).</summary>
    [JsonPropertyName("memory_per_device_gb")] public double MemoryPerDeviceGb { get; init; }
    [JsonPropertyName("memory_available_gb")] public double MemoryAvailableGb { get; init; }
    /// <summary>How many GB the fullest device lacks (0 when it fits).</summary>
    [JsonPropertyName("shortfall_gb_per_device")] public double ShortfallGbPerDevice { get; init; }

    /// <summary>Generated tokens per second over all sequences, prompt interference included.</summary>
    [JsonPropertyName("decode_tokens_per_second")] public double DecodeTokensPerSecond { get; init; }
    /// <summary>Tokens per second one sequence sees (1 / median inter-token latency).</summary>
    [JsonPropertyName("per_sequence_tokens_per_second")] public double PerSequenceTokensPerSecond { get; init; }
    /// <summary>Prompt tokens per second with prefill chunks streaming through every replica.</summary>
    [JsonPropertyName("prefill_tokens_per_second")] public double PrefillTokensPerSecond { get; init; }
    [JsonPropertyName("ttft_ms_p50")] public double TtftMsP50 { get; init; }
    [JsonPropertyName("ttft_ms_p99")] public double TtftMsP99 { get; init; }
    [JsonPropertyName("itl_ms_p50")] public double ItlMsP50 { get; init; }
    [JsonPropertyName("itl_ms_p99")] public double ItlMsP99 { get; init; }
    /// <summary>Share of a decode pass spent in collectives and stage-boundary transfers.</summary>
    [JsonPropertyName("interconnect_share")] public double InterconnectShare { get; init; }
    /// <summary>Share of a prefill chunk's pass spent in collectives and stage-boundary transfers.</summary>
    [JsonPropertyName("prefill_interconnect_share")] public double PrefillInterconnectShare { get; init; }

    /// <summary>Why it does not fit, or what limits it.</summary>
    [JsonPropertyName("note")] public string Note { get; init; } = "";
    /// <summary>Analytic until the event-driven simulation through the actor runtime replaces it.</summary>
    [JsonPropertyName("method")] public string Method { get; init; } = "analytic";
}
