using Actors.Simulation.Catalog;

namespace Actors.Simulation.Cost;

/// <summary>How concurrent transfers on one resource share it.</summary>
public enum SharingPolicy
{
    /// <summary>First come, first served: a transfer holds the resource for latency + bytes/bandwidth
    /// (a copy engine or a staging buffer works on one copy at a time).</summary>
    Serialize,
    /// <summary>Processor sharing: after its latency, each active transfer gets an equal share of the
    /// bandwidth (several DMA streams interleaving on one PCIe port or the host bridge).</summary>
    FairShare,
}

/// <summary>A transfer as the timeline placed it. Times are virtual seconds.</summary>
public readonly record struct TimedTransfer(int Id, double ReadyAt, long Bytes, double Start, double End);

/// <summary>
/// The virtual-time schedule of transfers on one resource (a link direction, a PCIe port, the host
/// bridge). Causality holds by construction: a transfer never starts before it is ready and never
/// ends before start + latency + bytes/bandwidth (sharing only makes it later). Transfers may be
/// submitted in any order; placements are recomputed from all submissions, so a later submission
/// with an earlier ready time can delay transfers placed before it, as it would on real hardware.
/// </summary>
public sealed class ResourceTimeline
{
    private readonly List<(double ReadyAt, long Bytes)> _submitted = [];
    private TimedTransfer[]? _resolved;

    public string Name { get; }
    public double Bandwidth { get; }
    public double LatencySeconds { get; }
    public SharingPolicy Policy { get; }

    public ResourceTimeline(string name, double bandwidthBytesPerSecond, double latencySeconds, SharingPolicy policy)
    {
        if (!(bandwidthBytesPerSecond > 0)) throw new ArgumentOutOfRangeException(nameof(bandwidthBytesPerSecond), bandwidthBytesPerSecond, "must be positive");
        if (!(latencySeconds >= 0)) throw new ArgumentOutOfRangeException(nameof(latencySeconds), latencySeconds, "must not be negative");
        Name = name;
        Bandwidth = bandwidthBytesPerSecond;
        LatencySeconds = latencySeconds;
        Policy = policy;
    }

    /// <summary>One direction of a link at its achieved bandwidth.</summary>
    public static ResourceTimeline ForLink(LinkSpec link, SharingPolicy policy = SharingPolicy.Serialize)
        => new(link.Name, link.EffectiveBandwidth, link.LatencySeconds, policy);

    public int Count => _submitted.Count;

    /// <summary>Adds a transfer that may start at <paramref name="readyAt"/>; returns its id.</summary>
    public int Submit(double readyAt, long bytes)
    {
        if (!(readyAt >= 0) || double.IsInfinity(readyAt)) throw new ArgumentOutOfRangeException(nameof(readyAt), readyAt, "must be a finite time ≥ 0");
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "must not be negative");
        _submitted.Add((readyAt, bytes));
        _resolved = null;
        return _submitted.Count - 1;
    }

    public TimedTransfer this[int id] => Resolve()[id];

    /// <summary>Every transfer with its start and end, in submission order.</summary>
    public IReadOnlyList<TimedTransfer> Transfers => Resolve();

    /// <summary>When the resource is next idle (the latest end).</summary>
    public double BusyUntil => Resolve().Length == 0 ? 0 : Resolve().Max(t => t.End);

    private TimedTransfer[] Resolve() => _resolved ??= Policy == SharingPolicy.Serialize ? ResolveSerial() : ResolveShared();

    private TimedTransfer[] ResolveSerial()
    {
        var result = new TimedTransfer[_submitted.Count];
        // FIFO by ready time (ties by submission order): the order a copy queue would see them.
        var order = Enumerable.Range(0, _submitted.Count).OrderBy(i => _submitted[i].ReadyAt).ThenBy(i => i);
        double free = 0;
        foreach (int i in order)
        {
            var (ready, bytes) = _submitted[i];
            double start = Math.Max(ready, free);
            double end = start + LatencySeconds + bytes / Bandwidth;
            result[i] = new TimedTransfer(i, ready, bytes, start, end);
            free = end;
        }
        return result;
    }

    private TimedTransfer[] ResolveShared()
    {
        int n = _submitted.Count;
        var result = new TimedTransfer[n];
        // Each transfer joins the shared pool after its latency; within the pool, active transfers
        // split the bandwidth equally. Advance from event to event (a join or a completion).
        var remaining = new double[n];
        var joins = new double[n];
        var done = new bool[n];
        for (int i = 0; i < n; i++)
        {
            remaining[i] = _submitted[i].Bytes;
            joins[i] = _submitted[i].ReadyAt + LatencySeconds;
        }
        double now = 0;
        int finished = 0;
        while (finished < n)
        {
            var active = new List<int>();
            double nextJoin = double.PositiveInfinity;
            for (int i = 0; i < n; i++)
            {
                if (done[i]) continue;
                if (joins[i] <= now) active.Add(i);
                else nextJoin = Math.Min(nextJoin, joins[i]);
            }
            if (active.Count == 0)
            {
                now = nextJoin;
                continue;
            }
            double rate = Bandwidth / active.Count;
            double firstFinish = now + active.Min(i => remaining[i]) / rate;
            double next = Math.Min(firstFinish, nextJoin);
            foreach (int i in active)
            {
                remaining[i] -= rate * (next - now);
                // Snap tiny residues from floating point; a transfer finishing at `next` is done.
                if (remaining[i] <= 1e-9 * Math.Max(1, _submitted[i].Bytes) || (next == firstFinish && remaining[i] <= rate * 1e-15))
                {
                    remaining[i] = 0;
                    done[i] = true;
                    finished++;
                    var (ready, bytes) = _submitted[i];
                    // The floor guards causality against rounding: never faster than alone on the link.
                    double end = Math.Max(next, ready + LatencySeconds + bytes / Bandwidth);
                    result[i] = new TimedTransfer(i, ready, bytes, ready, end);
                }
            }
            now = next;
        }
        return result;
    }
}
