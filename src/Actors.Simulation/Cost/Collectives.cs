using Actors.Simulation.Catalog;

namespace Actors.Simulation.Cost;

/// <summary>How an all-reduce is carried out.</summary>
public enum AllReduceAlgorithm
{
    /// <summary>Ring: 2(N−1) neighbour steps. The only choice when devices reach only some peers directly.</summary>
    Ring,
    /// <summary>
    /// Two-shot (reduce-scatter then all-gather, each one step to all peers at once): needs every pair
    /// directly connected, as on NVSwitch; what vLLM's custom all-reduce and NCCL do there for small messages.
    /// </summary>
    TwoShot,
}

/// <summary>
/// Collective communication costs (α-β model). α is the per-step latency (link latency plus the
/// collective kernel's own overhead), β the per-direction bandwidth while every device sends and
/// receives at once.
/// </summary>
public static class Collectives
{
    /// <summary>
    /// Ring all-reduce of <paramref name="bytes"/> over <paramref name="devices"/>: a reduce-scatter and an
    /// all-gather of N−1 steps each, every step moving S/N bytes per device:
    /// 2(N−1)·α + 2(N−1)/N · S/β.
    /// </summary>
    public static double RingAllReduceSeconds(int devices, double bytes, double alphaSeconds, double betaBytesPerSecond)
    {
        if (devices <= 1) return 0;
        return 2.0 * (devices - 1) * alphaSeconds + 2.0 * (devices - 1) / devices * bytes / betaBytesPerSecond;
    }

    /// <summary>
    /// Two-shot all-reduce over an all-to-all fabric: 2·α + 2(N−1)/N · S/β (same bytes as the ring,
    /// two latency steps instead of 2(N−1)).
    /// </summary>
    public static double TwoShotAllReduceSeconds(int devices, double bytes, double alphaSeconds, double betaBytesPerSecond)
    {
        if (devices <= 1) return 0;
        return 2.0 * alphaSeconds + 2.0 * (devices - 1) / devices * bytes / betaBytesPerSecond;
    }

    /// <summary>Ring all-gather (or a gather to one rank): (N−1)·α + (N−1)/N · S/β, S the gathered total.</summary>
    public static double RingAllGatherSeconds(int devices, double bytes, double alphaSeconds, double betaBytesPerSecond)
    {
        if (devices <= 1) return 0;
        return (devices - 1) * alphaSeconds + (double)(devices - 1) / devices * bytes / betaBytesPerSecond;
    }

    /// <summary>Ring all-reduce over a link kind, using its duplex bandwidth (all devices send at once).</summary>
    public static double AllReduceSeconds(LinkSpec link, int devices, double bytes, RooflineOptions options, AllReduceAlgorithm algorithm = AllReduceAlgorithm.Ring)
    {
        double alpha = link.LatencySeconds + options.CollectiveStepOverheadSeconds;
        return algorithm == AllReduceAlgorithm.TwoShot
            ? TwoShotAllReduceSeconds(devices, bytes, alpha, link.EffectiveDuplexBandwidth)
            : RingAllReduceSeconds(devices, bytes, alpha, link.EffectiveDuplexBandwidth);
    }

    public static double AllGatherSeconds(LinkSpec link, int devices, double bytes, RooflineOptions options)
        => RingAllGatherSeconds(devices, bytes, link.LatencySeconds + options.CollectiveStepOverheadSeconds, link.EffectiveDuplexBandwidth);
}
