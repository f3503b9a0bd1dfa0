namespace Actors.Simulation.Catalog;

/// <summary>Where a link runs: between devices of one box, or between nodes.</summary>
public enum LinkScope
{
    Device,
    Network,
}

/// <summary>
/// A kind of connection between two devices. Bandwidth is per direction; <see cref="BidirectionalBandwidth"/>
/// is what both directions reach together, which is less than twice the one-way figure when the
/// endpoints cannot drive both at once (host-staged copies: 11.3 one way, 16.8 both).
/// </summary>
public sealed record LinkSpec
{
    public required string Name { get; init; }
    /// <summary>Line rate per direction, bytes/s.</summary>
    public required double Bandwidth { get; init; }
    /// <summary>Both directions together, bytes/s (line rate).</summary>
    public required double BidirectionalBandwidth { get; init; }
    /// <summary>Small-message one-way time, seconds.</summary>
    public required double LatencySeconds { get; init; }
    /// <summary>Fraction of line rate a copy reaches (1 for measured figures).</summary>
    public required double Efficiency { get; init; }
    public required LinkScope Scope { get; init; }
    /// <summary>A bridge that joins exactly two devices (the GA102 NVLink bridge).</summary>
    public bool PairsOnly { get; init; }

    /// <summary>Achieved bandwidth of one transfer with the reverse direction idle.</summary>
    public double EffectiveBandwidth => Bandwidth * Efficiency;

    /// <summary>
    /// Achieved bandwidth per direction when both directions are busy, as in every step of a ring
    /// all-reduce where each device sends and receives at once.
    /// </summary>
    public double EffectiveDuplexBandwidth => Math.Min(Bandwidth, BidirectionalBandwidth / 2) * Efficiency;

    /// <summary>The runtime's link model with this link's achieved figures: what its accounting and the planner both cost transfers with.</summary>
    public Actors.Runtime.Transfer.LinkModel Model => new(EffectiveBandwidth, LatencySeconds);

    /// <summary>Time for one transfer on an idle link: latency + bytes / bandwidth (<see cref="Model"/>).</summary>
    public double TransferSeconds(long bytes) => Model.Seconds(bytes);

    public LinkSpec Ideal() => this with { Efficiency = 1 };
}
