using System.Collections.Concurrent;

namespace Actors.Runtime.Transfer;

/// <summary>Totals of the transfers over one path kind (or one device pair).</summary>
public sealed class TransferTotals
{
    public long Bytes;
    public long Count;
    public double Seconds;
    public double BytesPerSecond => Seconds > 0 ? Bytes / Seconds : 0;
}

/// <summary>
/// Bytes, count and time of every transfer, per path kind and per ordered device pair, so a user can
/// see what the interconnect costs. Thread-safe: copy engines record from device threads.
/// </summary>
public sealed class TransferAccounting
{
    private readonly ConcurrentDictionary<PathKind, TransferTotals> _byKind = new();
    private readonly ConcurrentDictionary<(string, string), TransferTotals> _byPair = new();

    /// <summary>Also told of every transfer (the runtime's metrics).</summary>
    public Action<TransferPath, long, double>? Observer { get; set; }

    public void Record(TransferPath path, long bytes, double seconds)
    {
        Observer?.Invoke(path, bytes, seconds);
        Add(_byKind.GetOrAdd(path.Kind, _ => new TransferTotals()), bytes, seconds);
        Add(_byPair.GetOrAdd((path.From, path.To), _ => new TransferTotals()), bytes, seconds);
    }

    private static void Add(TransferTotals t, long bytes, double seconds)
    {
        lock (t)
        {
            t.Bytes += bytes;
            t.Count++;
            t.Seconds += seconds;
        }
    }

    private readonly ConcurrentDictionary<string, LinkModel> _links = new();

    /// <summary>The link model measured on a remote device's data connection (small and large echoes).</summary>
    public void RecordLink(string remoteDevice, LinkModel measured) => _links[remoteDevice] = measured;

    /// <summary>Measured network links by remote device id.</summary>
    public IReadOnlyDictionary<string, LinkModel> MeasuredLinks => _links;

    public IReadOnlyDictionary<PathKind, TransferTotals> ByKind => _byKind;
    public IReadOnlyDictionary<(string From, string To), TransferTotals> ByPair => _byPair;

    public double TotalSeconds => _byKind.Values.Sum(t => t.Seconds);
}
