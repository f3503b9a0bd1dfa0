namespace Actors.Simulation.Catalog;

/// <summary>
/// How a CPU's matmul kernel for one weight format spends time, where the plain roofline (all tokens
/// at one FLOP rate, overlapped with the weight read) is too coarse. The kernel walks the rows in
/// cache-sized chunks: the first pass over a chunk (one tile of <see cref="TileTokens"/> tokens, or
/// one token below a tile) reads it from DRAM, overlapped with its arithmetic; every further pass
/// (tile, or left-over token run alone) finds it in cache and costs only arithmetic. Rates are
/// measured per row length (<see cref="MatmulRates"/>): the float kernels slow down as a token's
/// activations outgrow L1. Between measured lengths rates are interpolated in log k; outside, the
/// nearest one holds. They are used as measured, without the device's efficiencies. GPUs have none.
/// </summary>
public sealed record MatmulKernel
{
    public int TileTokens { get; }

    /// <summary>
    /// Whether tokens left over after the whole tiles walk the weights again, with a DRAM read of their
    /// own (the float kernels' cache-blocked prefill runs every tile over all rows first).
    /// </summary>
    public bool LeftoversReread { get; init; }

    /// <summary>Measured rates, by increasing row length.</summary>
    public IReadOnlyList<MatmulRates> Rates { get; }

    public MatmulKernel(int tileTokens, IEnumerable<MatmulRates> rates)
    {
        if (tileTokens < 1) throw new ArgumentOutOfRangeException(nameof(tileTokens), tileTokens, "must be at least 1");
        TileTokens = tileTokens;
        Rates = rates.OrderBy(r => r.RowLength).ToArray();
        if (Rates.Count == 0) throw new ArgumentException("a kernel needs at least one set of rates", nameof(rates));
        for (int i = 1; i < Rates.Count; i++)
            if (Rates[i].RowLength == Rates[i - 1].RowLength) throw new ArgumentException($"row length {Rates[i].RowLength} is given twice", nameof(rates));
    }

    /// <summary>One set of rates for every row length (the catalog's scalar form).</summary>
    public MatmulKernel(double tiledFlops, double singleFlops, int tileTokens, double streamBandwidth = 0)
        : this(tileTokens, [new MatmulRates(0, tiledFlops, singleFlops, streamBandwidth)]) { }

    /// <summary>Rates on rows of <paramref name="rowLength"/> weights: linear in log k between the two measured lengths around it.</summary>
    public MatmulRates At(int rowLength)
    {
        var first = Rates[0];
        if (Rates.Count == 1 || rowLength <= first.RowLength) return first;
        var last = Rates[^1];
        if (rowLength >= last.RowLength) return last;
        int i = 1;
        while (Rates[i].RowLength < rowLength) i++;
        var (lo, hi) = (Rates[i - 1], Rates[i]);
        double f = Math.Log((double)rowLength / lo.RowLength) / Math.Log((double)hi.RowLength / lo.RowLength);
        return new MatmulRates(rowLength, Lerp(lo.TiledFlops, hi.TiledFlops, f), Lerp(lo.SingleFlops, hi.SingleFlops, f), Lerp(lo.StreamBandwidth, hi.StreamBandwidth, f),
            lo.TileStreamFlops > 0 && hi.TileStreamFlops > 0 ? Lerp(lo.TileStreamFlops, hi.TileStreamFlops, f) : 0);
    }

    /// <summary>Seconds of arithmetic for <paramref name="weights"/> weights in rows of <paramref name="rowLength"/> times <paramref name="tokens"/> tokens, all passes from cache.</summary>
    public double ComputeSeconds(double weights, double tokens, int rowLength = 0)
    {
        var r = At(rowLength);
        double tiled = tokens >= TileTokens ? Math.Floor(tokens / TileTokens) * TileTokens : 0;
        double single = tokens - tiled;
        return 2 * weights * (tiled / r.TiledFlops + single / r.SingleFlops);
    }

    /// <summary>
    /// Seconds of the whole kernel: the first pass overlapped with <paramref name="readSeconds"/> (the
    /// DRAM read of the weights), then every further pass from cache.
    /// </summary>
    public double Seconds(double weights, double tokens, int rowLength, double readSeconds)
    {
        if (tokens <= 0) return readSeconds;
        double tiled = tokens >= TileTokens ? Math.Floor(tokens / TileTokens) * TileTokens : 0;
        double left = tokens - tiled;
        if (LeftoversReread && tiled > 0 && left > 0)
            return Pass(weights, tiled, rowLength, readSeconds) + Pass(weights, left, rowLength, readSeconds);
        return Pass(weights, tokens, rowLength, readSeconds);
    }

    /// <summary>
    /// One walk over the weights: its first tile (or token) comes with the DRAM read, the rest runs from
    /// cache. A first tile takes its measured time from DRAM (<see cref="MatmulRates.TileStreamFlops"/>)
    /// where there is one, else the read overlapped with its arithmetic; a first token below a tile is
    /// the read itself.
    /// </summary>
    private double Pass(double weights, double tokens, int rowLength, double readSeconds)
    {
        double all = ComputeSeconds(weights, tokens, rowLength);
        bool tile = tokens >= TileTokens;
        double first = ComputeSeconds(weights, tile ? TileTokens : Math.Min(1, tokens), rowLength);
        double tileStream = At(rowLength).TileStreamFlops;
        double firstFromDram = tile && tileStream > 0 ? 2 * weights * TileTokens / tileStream : first;
        return Math.Max(readSeconds, firstFromDram) + (all - first);
    }

    public bool Equals(MatmulKernel? other) => other is not null && TileTokens == other.TileTokens && LeftoversReread == other.LeftoversReread && Rates.SequenceEqual(other.Rates);

    public override int GetHashCode() => HashCode.Combine(TileTokens, Rates.Count, Rates[0]);

    private static double Lerp(double a, double b, double f) => a + (b - a) * f;
}
