using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;

namespace Actors.Simulation.Planning;

/// <summary>What to plan: a model shape in a weight format on a topology for a workload.</summary>
public sealed record PlanRequest(ModelShape Model, WeightFormat Weights, Topology Topology, Workload Workload)
{
    public PlannerOptions Options { get; init; } = PlannerOptions.Default;
}

/// <summary>Knobs of the analytic planner that are not hardware.</summary>
public sealed record PlannerOptions
{
    public RooflineOptions Roofline { get; init; } = RooflineOptions.Default;

    /// <summary>
    /// Host time per engine step that does not overlap the GPU: scheduling, sampling, detokenising.
    /// vLLM moved its scheduler to its own process because this reached milliseconds; 0.1 ms assumes
    /// a runtime that overlaps most of it. An assumption until `actors bench` measures ours.
    /// </summary>
    public double HostStepOverheadSeconds { get; init; } = 100e-6;

    public static PlannerOptions Default { get; } = new();
}
