using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Actors.Runtime.Observability;

/// <summary>Live numbers of one replica's scheduler, published by its actor and read by the gauges.</summary>
public sealed class ReplicaGauges
{
    public int Replica { get; init; }
    public volatile int Waiting;
    public volatile int Running;
    public volatile int BlocksUsed;
    /// <summary>The most blocks in use at once since a reader last set it (to <see cref="BlocksUsed"/>): a peak without a sampling timer.</summary>
    public volatile int BlocksPeak;
    public volatile int BlocksFree;
    public volatile int BlocksCachedFree;
    /// <summary>Blocks of the sliding-window layers' own pool (both 0 without one).</summary>
    public volatile int SlidingBlocksUsed;
    public volatile int SlidingBlocksFree;
    public long PrefixQueries;
    public long PrefixHits;
}

/// <summary>
/// The runtime's instruments (System.Diagnostics.Metrics, meter "Actors.Runtime"), readable by
/// OpenTelemetry or dotnet-counters: queue and running sizes, KV blocks, prefix-cache hit rate,
/// preemptions, step time, time to first token, inter-token latency and tokens per second.
/// </summary>
public sealed class RuntimeMetrics : IDisposable
{
    public const string MeterName = "Actors.Runtime";

    private readonly Meter _meter;
    private readonly ConcurrentDictionary<int, ReplicaGauges> _replicas = new();
    private readonly Counter<long> _generated;
    private readonly Counter<long> _promptTokens;
    private readonly Counter<long> _preemptions;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _rejections;
    private readonly Histogram<double> _stepMs;
    private readonly Histogram<double> _ttftMs;
    private readonly Histogram<double> _itlMs;
    private readonly Histogram<double> _queueMs;
    private readonly Histogram<int> _batchTokens;
    private readonly Counter<long> _transferBytes;
    private readonly Counter<long> _transfers;
    private readonly Histogram<double> _transferUs;
    private long _generatedTotal;
    private long _preemptionsTotal;
    private volatile bool _muted;
    private long _windowStartTicks = Stopwatch.GetTimestamp();
    private long _windowStartTokens;
    private double _lastRate;

    public RuntimeMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _generated = _meter.CreateCounter<long>("actors.tokens.generated", "{token}", "Tokens generated");
        _promptTokens = _meter.CreateCounter<long>("actors.tokens.prompt", "{token}", "Prompt tokens admitted");
        _preemptions = _meter.CreateCounter<long>("actors.scheduler.preemptions", "{preemption}", "Sequences preempted for lack of KV blocks");
        _requests = _meter.CreateCounter<long>("actors.requests.finished", "{request}", "Requests finished, by reason");
        _rejections = _meter.CreateCounter<long>("actors.requests.rejected", "{request}", "Requests rejected, by reason");
        _stepMs = _meter.CreateHistogram<double>("actors.step.duration", "ms", "Wall time of one scheduled step");
        _ttftMs = _meter.CreateHistogram<double>("actors.request.time_to_first_token", "ms", "Arrival to first token");
        _itlMs = _meter.CreateHistogram<double>("actors.request.inter_token_latency", "ms", "Time between consecutive tokens");
        _queueMs = _meter.CreateHistogram<double>("actors.request.queue_time", "ms", "Arrival to first scheduled");
        _batchTokens = _meter.CreateHistogram<int>("actors.step.tokens", "{token}", "Tokens in one step");
        _transferBytes = _meter.CreateCounter<long>("actors.transfer.bytes", "By", "Bytes moved between devices, by path");
        _transfers = _meter.CreateCounter<long>("actors.transfer.count", "{transfer}", "Transfers between devices, by path");
        _transferUs = _meter.CreateHistogram<double>("actors.transfer.duration", "us", "Time of one transfer, by path");
        _meter.CreateObservableGauge("actors.scheduler.waiting", () => Each(g => g.Waiting), "{sequence}", "Waiting sequences");
        _meter.CreateObservableGauge("actors.scheduler.running", () => Each(g => g.Running), "{sequence}", "Running sequences");
        _meter.CreateObservableGauge("actors.kv.blocks_used", () => Each(g => g.BlocksUsed), "{block}", "KV blocks in use");
        _meter.CreateObservableGauge("actors.kv.blocks_free", () => Each(g => g.BlocksFree), "{block}", "KV blocks free");
        _meter.CreateObservableGauge("actors.kv.sliding_blocks_used", () => Each(g => g.SlidingBlocksUsed), "{block}", "Blocks of the sliding-window layers' KV pool in use (0 without one)");
        _meter.CreateObservableGauge("actors.kv.sliding_blocks_free", () => Each(g => g.SlidingBlocksFree), "{block}", "Blocks of the sliding-window layers' KV pool free (0 without one)");
        _meter.CreateObservableGauge("actors.kv.blocks_cached", () => Each(g => g.BlocksCachedFree), "{block}", "Free KV blocks still holding cached prefixes");
        _meter.CreateObservableGauge("actors.kv.prefix_hit_rate", () => EachRate(), "1", "Prefix-cache hits per query");
        _meter.CreateObservableGauge("actors.tokens.per_second", ObserveRate, "{token}/s", "Generated tokens per second since the last observation");
    }

    public IEnumerable<ReplicaGauges> Replicas() => _replicas.Values;

    /// <summary>This runtime's meter (several runtimes in one process each have their own).</summary>
    public Meter Meter => _meter;

    public ReplicaGauges Replica(int replica) => _replicas.GetOrAdd(replica, r => new ReplicaGauges { Replica = r });

    /// <summary>While set, counters and histograms record nothing: the runtime's warm-up requests at start are not traffic.</summary>
    internal bool Muted { get => _muted; set => _muted = value; }

    public void TokensGenerated(int count)
    {
        if (_muted) return;
        _generated.Add(count);
        Interlocked.Add(ref _generatedTotal, count);
    }

    public long GeneratedTotal => Interlocked.Read(ref _generatedTotal);
    public void PromptAdmitted(int tokens)
    {
        if (!_muted) _promptTokens.Add(tokens);
    }

    public void Preempted(int count, int replica)
    {
        if (_muted) return;
        _preemptions.Add(count, new KeyValuePair<string, object?>("replica", replica));
        Interlocked.Add(ref _preemptionsTotal, count);
    }

    public long PreemptionsTotal => Interlocked.Read(ref _preemptionsTotal);
    public void RequestFinished(string reason)
    {
        if (!_muted) _requests.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public void RequestRejected(string reason)
    {
        if (!_muted) _rejections.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public void Step(double ms, int tokens, int replica)
    {
        if (_muted) return;
        var tag = new KeyValuePair<string, object?>("replica", replica);
        _stepMs.Record(ms, tag);
        _batchTokens.Record(tokens, tag);
    }
    public void TimeToFirstToken(double ms)
    {
        if (!_muted) _ttftMs.Record(ms);
    }

    public void Transfer(Transfer.TransferPath path, long bytes, double seconds)
    {
        if (_muted) return;
        var tag = new KeyValuePair<string, object?>("path", path.Kind.ToString());
        _transferBytes.Add(bytes, tag);
        _transfers.Add(1, tag);
        _transferUs.Record(seconds * 1e6, tag);
    }
    public void InterTokenLatency(double ms)
    {
        if (!_muted) _itlMs.Record(ms);
    }

    public void QueueTime(double ms)
    {
        if (!_muted) _queueMs.Record(ms);
    }

    private IEnumerable<Measurement<int>> Each(Func<ReplicaGauges, int> read) =>
        _replicas.Values.Select(g => new Measurement<int>(read(g), new KeyValuePair<string, object?>("replica", g.Replica)));

    private IEnumerable<Measurement<double>> EachRate() =>
        _replicas.Values.Select(g =>
        {
            long q = Interlocked.Read(ref g.PrefixQueries), h = Interlocked.Read(ref g.PrefixHits);
            return new Measurement<double>(q == 0 ? 0 : (double)h / q, new KeyValuePair<string, object?>("replica", g.Replica));
        });

    private double ObserveRate()
    {
        long now = Stopwatch.GetTimestamp(), tokens = GeneratedTotal;
        double seconds = (now - _windowStartTicks) / (double)Stopwatch.Frequency;
        if (seconds >= 1)
        {
            _lastRate = (tokens - _windowStartTokens) / seconds;
            _windowStartTicks = now;
            _windowStartTokens = tokens;
        }
        return _lastRate;
    }

    public void Dispose() => _meter.Dispose();
}
