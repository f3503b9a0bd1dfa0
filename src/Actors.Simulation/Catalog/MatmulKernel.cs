namespace Actors.Simulation.Catalog;

/// <summary>
/// How a device's matmul kernel for one weight format spends compute, where the plain roofline (all
/// tokens at one FLOP rate) is too coarse. A CPU kernel runs tokens in tiles of
/// <see cref="TileTokens"/> (each unpacked weight feeds every token of the tile) at
/// <see cref="TiledFlops"/>; tokens left over, and every token of a batch smaller than a tile, go one
/// at a time at <see cref="SingleFlops"/>, unpacking each weight again. Rates are FLOP/s before the
/// device's compute efficiency. <see cref="StreamBandwidth"/> (0: not given) is how fast the kernel
/// reads this format's weights from DRAM with one token, bytes/s: unpacking keeps some formats below
/// the plain read bandwidth. GPUs have no such entry.
/// </summary>
public sealed record MatmulKernel(double TiledFlops, double SingleFlops, int TileTokens, double StreamBandwidth = 0)
{
    /// <summary>Seconds of arithmetic for <paramref name="weights"/> weights times <paramref name="tokens"/> tokens at <paramref name="efficiency"/>.</summary>
    public double ComputeSeconds(double weights, double tokens, double efficiency)
    {
        double tiled = tokens >= TileTokens ? Math.Floor(tokens / TileTokens) * TileTokens : 0;
        double single = tokens - tiled;
        return 2 * weights * (tiled / TiledFlops + single / SingleFlops) / efficiency;
    }
}
