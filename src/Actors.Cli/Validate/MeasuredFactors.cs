using Actors.Simulation.Catalog;

namespace Actors.Cli.Validate;

/// <summary>
/// The entry's factors, all pinned to measurements rather than fitted: the efficiencies are 1 because
/// the bandwidth and FLOP rate are this machine's measured ones; the launch overhead is the measured
/// cost of one empty parallel operation of the worker pool.
/// </summary>
public sealed record MeasuredFactors(double MemoryEfficiency, double ComputeEfficiency, double LaunchOverheadSeconds)
{
    public GpuSpec Apply(GpuSpec device) => device with
    {
        MemoryEfficiency = MemoryEfficiency,
        ComputeEfficiency = ComputeEfficiency,
        LaunchOverheadSeconds = LaunchOverheadSeconds,
    };
}
