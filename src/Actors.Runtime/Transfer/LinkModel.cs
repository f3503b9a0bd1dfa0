namespace Actors.Runtime.Transfer;

/// <summary>
/// The one cost model of a link that the runtime's accounting and the planner share: a transfer of
/// <c>bytes</c> takes <see cref="LatencySeconds"/> + bytes / <see cref="BytesPerSecond"/> on an idle link.
/// The runtime costs its chosen paths with it (<see cref="TransferPath.EstimateSeconds"/>), the planner
/// its catalog links (Actors.Simulation's LinkSpec.TransferSeconds), and a cross-node stage's measured
/// data connection is reported against it (<see cref="Predict"/> of the bytes a step moved).
/// </summary>
public readonly record struct LinkModel(double BytesPerSecond, double LatencySeconds)
{
    /// <summary>One transfer on an idle link.</summary>
    public double Seconds(long bytes) => LatencySeconds + bytes / BytesPerSecond;

    /// <summary><paramref name="transfers"/> transfers of <paramref name="bytes"/> in all, one after another.</summary>
    public double Predict(long bytes, long transfers) => transfers * LatencySeconds + bytes / BytesPerSecond;

    /// <summary>
    /// A model fitted to two measured one-way times: a small transfer (latency) and a large one (bandwidth
    /// from the difference, so the latency is not counted twice).
    /// </summary>
    public static LinkModel Fit(long smallBytes, double smallSeconds, long largeBytes, double largeSeconds)
    {
        if (largeBytes <= smallBytes) throw new ArgumentException($"the large transfer ({largeBytes} bytes) must be larger than the small one ({smallBytes})");
        double perByte = Math.Max(1e-15, (largeSeconds - smallSeconds) / (largeBytes - smallBytes));
        return new LinkModel(1 / perByte, Math.Max(0, smallSeconds - smallBytes * perByte));
    }
}
