namespace Actors.Runtime.Transfer;

/// <summary>
/// When one link (or a resource several links share, such as the host that every host-staged copy
/// goes through) is busy on the virtual clock. Copies reach the transfer actor in wall-clock order,
/// which is not virtual-time order: a later stage of one step may book the link before an earlier
/// stage of another. A plain "busy until" would then make the earlier copy wait for the later one —
/// a copy delayed by something that has not happened yet. Instead each copy takes the earliest gap
/// at or after its ready time that is long enough, so a copy only ever waits for copies that really
/// overlap it.
/// </summary>
public sealed class VirtualLinkCalendar
{
    /// <summary>Bookings kept; the oldest half goes when the list is full (copies are never that far out of order).</summary>
    private const int Capacity = 4096;

    // Busy intervals, sorted and disjoint, so their ends are sorted too.
    private readonly List<(double Start, double End)> _busy = [];

    public int Count => _busy.Count;

    /// <summary>Books <paramref name="seconds"/> starting no earlier than <paramref name="readyAt"/>; returns the start.</summary>
    public double Reserve(double readyAt, double seconds)
    {
        if (!(seconds >= 0)) throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "must not be negative");
        if (!(readyAt >= 0) || double.IsInfinity(readyAt)) throw new ArgumentOutOfRangeException(nameof(readyAt), readyAt, "must be a finite time ≥ 0");
        int i = FirstEndingAfter(readyAt);
        double start = readyAt;
        for (; i < _busy.Count; i++)
        {
            if (start + seconds <= _busy[i].Start) break; // fits in the gap before booking i
            start = Math.Max(start, _busy[i].End);
        }
        if (seconds > 0) _busy.Insert(i, (start, start + seconds));
        if (_busy.Count > Capacity) _busy.RemoveRange(0, Capacity / 2);
        return start;
    }

    /// <summary>Index of the first booking that ends after <paramref name="time"/> (binary search on the sorted ends).</summary>
    private int FirstEndingAfter(double time)
    {
        int lo = 0, hi = _busy.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_busy[mid].End <= time) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
