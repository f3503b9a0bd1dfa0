namespace Actors.Simulation.Cost;

/// <summary>
/// What the non-matmul work of one transformer layer moves and computes, in the units the roofline
/// charges. Shared by <see cref="RooflineCostModel"/> and by probes that turn a measured time into a
/// rate, so a rate measured on one shape is applied to the same quantities on another.
/// Dimensions are per device of a tensor-parallel group of <paramref name="n"/> where they split.
/// </summary>
public static class LayerTraffic
{
    /// <summary>
    /// Attention bytes: K and V of every context token read once per sequence, the new tokens' K and V
    /// written, Q read and the output written.
    /// </summary>
    public static double AttentionBytes(double contextTokens, double tokens, double q, double kv, double n, double kvElementBytes, double activationBytes)
        => contextTokens * 2 * (kv / n) * kvElementBytes + tokens * 2 * (kv / n) * kvElementBytes + tokens * 2 * (q / n) * activationBytes;

    /// <summary>Attention FLOPs: 4·(query width) per (query, key) pair, QKᵀ and PV.</summary>
    public static double AttentionFlops(double pairs, double q, double n) => 4 * pairs * (q / n);

    /// <summary>
    /// Elementwise bytes of <paramref name="tokens"/> tokens: two norms (read h, write h), RoPE on q and
    /// k (read and write), SiLU·up (read 2ff, write ff), two residual adds (read 2h, write h).
    /// </summary>
    public static double ElementwiseBytes(double tokens, double h, double q, double kv, double ff, double n, double activationBytes)
        => tokens * activationBytes * (4 * h + 2 * (q + kv) / n + 3 * ff / n + 6 * h);
}
