namespace Actors.Simulation.Cost;

/// <summary>
/// Transfers that cross several resources at once (a host-staged copy holds the sender's PCIe port,
/// the host bridge and the receiver's port). Each path transfer waits until every resource on its
/// path is free, then holds them all for latency + bytes / (slowest bandwidth): contention on any
/// shared resource, such as the host bridge that all un-bridged GeForce pairs go through, serializes.
/// </summary>
public sealed class PathTimeline
{
    private readonly Dictionary<string, double> _freeAt = new(StringComparer.Ordinal);
    private readonly List<TimedTransfer> _transfers = [];

    public IReadOnlyList<TimedTransfer> Transfers => _transfers;

    /// <summary>
    /// Places a transfer of <paramref name="bytes"/> ready at <paramref name="readyAt"/> on the named
    /// resources. Placement is in submission order (submit in virtual-time order).
    /// </summary>
    public TimedTransfer Submit(double readyAt, long bytes, double bandwidth, double latencySeconds, params string[] resources)
    {
        if (resources.Length == 0) throw new ArgumentException("a transfer needs at least one resource", nameof(resources));
        if (!(bandwidth > 0)) throw new ArgumentOutOfRangeException(nameof(bandwidth), bandwidth, "must be positive");
        if (!(readyAt >= 0)) throw new ArgumentOutOfRangeException(nameof(readyAt), readyAt, "must be ≥ 0");
        double start = readyAt;
        foreach (var r in resources) start = Math.Max(start, _freeAt.GetValueOrDefault(r));
        double end = start + latencySeconds + bytes / bandwidth;
        foreach (var r in resources) _freeAt[r] = end;
        var t = new TimedTransfer(_transfers.Count, readyAt, bytes, start, end);
        _transfers.Add(t);
        return t;
    }

    public double FreeAt(string resource) => _freeAt.GetValueOrDefault(resource);
}
