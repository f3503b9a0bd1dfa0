using System.Text.Json;
using System.Text.Json.Serialization;

namespace Actors.Server.Soak;

/// <summary>
/// The outcome of a soak: every request lands in exactly one of completed, rejected (429/503),
/// bad_requests_refused (a deliberately bad body got its 400), client_gone (the client disconnected or
/// cancelled), failed_by_injected_fault (an error reply naming an injected device fault: a thrown step,
/// invalid logits, the step watchdog), failed_with_error (any other 5xx, error event, or wrong answer) and
/// lost (no terminal reply within the timeout, or the connection broke without the client leaving). Leaks and memory are measured
/// only when the server runs in-process (null otherwise).
/// </summary>
public sealed record SoakReport(
    [property: JsonPropertyName("requests")] int Requests,
    [property: JsonPropertyName("completed")] int Completed,
    [property: JsonPropertyName("rejected")] int Rejected,
    [property: JsonPropertyName("bad_requests_refused")] int BadRequestsRefused,
    [property: JsonPropertyName("client_gone")] int ClientGone,
    [property: JsonPropertyName("failed_by_injected_fault")] int FailedByInjectedFault,
    [property: JsonPropertyName("failed_with_error")] int FailedWithError,
    [property: JsonPropertyName("lost")] int Lost,
    [property: JsonPropertyName("kv_blocks_leaked")] int? KvBlocksLeaked,
    [property: JsonPropertyName("request_actors_leaked")] int? RequestActorsLeaked,
    [property: JsonPropertyName("peak_rss_mb")] double? PeakRssMb,
    [property: JsonPropertyName("peak_rss_first_half_mb")] double? PeakRssFirstHalfMb,
    [property: JsonPropertyName("peak_rss_second_half_mb")] double? PeakRssSecondHalfMb,
    [property: JsonPropertyName("live_heap_after_mb")] double? LiveHeapAfterMb,
    [property: JsonPropertyName("duration_s")] double DurationSeconds,
    [property: JsonPropertyName("first_failures")] IReadOnlyList<string> FirstFailures)
{
    [JsonIgnore] public bool Clean => Lost == 0 && FailedWithError == 0 && KvBlocksLeaked is null or 0 && RequestActorsLeaked is null or 0;

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { DefaultIgnoreCondition = JsonIgnoreCondition.Never });
}
