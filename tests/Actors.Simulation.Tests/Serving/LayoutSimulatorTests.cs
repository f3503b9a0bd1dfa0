using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;
using Actors.Simulation.Serving;

namespace Actors.Simulation.Tests.Serving;

/// <summary>The planner's event-driven second opinion: layouts run through the actor runtime.</summary>
public class LayoutSimulatorTests
{
    private static readonly HardwareCatalog Hw = HardwareCatalog.Default;
    private static readonly ModelCatalog Mc = ModelCatalog.Default;

    private static PlanRequest Request(string rig, int concurrency, int prompt = 128, int output = 32)
        => new(Mc.Model("llama-2-7b"), Mc.Format("Q4_0"), Topology.Parse(Hw, rig), Workload.Fixed(concurrency, prompt, output));

    [Fact]
    public void A_replica_sees_only_the_bridges_between_its_own_cards()
    {
        var rig = Topology.Parse(Hw, "4x rtx-3090 nvlink=0-1,2-3");
        var second = LayoutSimulator.ReplicaTopology(rig, new Layout(1, 2, 2), replica: 1);
        Assert.Equal(2, second.GpuCount);
        Assert.Equal("rtx3090-nvlink", second.LinkBetween(0, 1).Name);
        var straddling = LayoutSimulator.ReplicaTopology(Topology.Parse(Hw, "4x rtx-3090 nvlink=0-2,1-3"), new Layout(1, 2, 2), replica: 0);
        Assert.Equal("host-staged-pcie4", straddling.LinkBetween(0, 1).Name);
    }

    [Fact]
    public void The_first_wave_starts_at_staggered_points_of_its_output_and_the_rest_queue_in_order()
    {
        var requests = LayoutSimulator.ClosedLoopRequests(Request("1x rtx-3090", 4, output: 100), share: 4, total: 7, seed: 1);
        Assert.Equal([25, 50, 75, 100, 100, 100, 100], requests.Select(r => r.OutputTokens));
        Assert.All(requests.Take(4), r => Assert.Equal(0, r.ArrivalSeconds));
        Assert.True(requests.Skip(4).Select(r => r.ArrivalSeconds).SequenceEqual(requests.Skip(4).Select(r => r.ArrivalSeconds).Order()));
    }

    [Fact]
    public void Tensor_parallel_layouts_are_left_to_the_analytic_planner()
    {
        var request = Request("2x rtx-3090", 2);
        var layout = new Layout(2, 1, 1);
        var e = Assert.ThrowsAsync<ArgumentException>(() => LayoutSimulator.EstimateAsync(request, layout, Planner.Estimate(request, layout)));
        Assert.Contains("tensor parallelism", e.Result.Message);
    }

    [Fact]
    public async Task Replicas_simulate_close_to_the_analytic_estimate_and_repeat_exactly()
    {
        var request = Request("2x rtx-3090", 4);
        var layout = new Layout(1, 1, 2);
        var analytic = Planner.Estimate(request, layout);
        var a = await LayoutSimulator.EstimateAsync(request, layout, analytic, requests: 12);
        var b = await LayoutSimulator.EstimateAsync(request, layout, analytic, requests: 12);
        Assert.Equal("simulated", a.Method);
        Assert.Equal(a.DecodeTokensPerSecond, b.DecodeTokensPerSecond);
        Assert.Equal(a.TtftMsP50, b.TtftMsP50);
        // Two independent replicas of a memory-bound decode: the closed forms hold within 15%.
        Assert.InRange(a.DecodeTokensPerSecond / analytic.DecodeTokensPerSecond, 0.85, 1.15);
        Assert.InRange(a.ItlMsP50 / analytic.ItlMsP50, 0.85, 1.15);
        Assert.True(a.PrefillTokensPerSecond > 0);
    }

    [Fact]
    public async Task A_pipeline_run_repeats()
    {
        // Copies that overlap on a shared host path are booked in the order they reach the transfer
        // actor, so pipelines with several host-staged boundaries may differ in the last digits.
        var request = Request("2x rtx-3090", 4);
        var layout = new Layout(1, 2, 1);
        var analytic = Planner.Estimate(request, layout);
        var a = await LayoutSimulator.EstimateAsync(request, layout, analytic, requests: 10);
        var b = await LayoutSimulator.EstimateAsync(request, layout, analytic, requests: 10);
        Assert.InRange(a.DecodeTokensPerSecond / b.DecodeTokensPerSecond, 0.999, 1.001);
        Assert.True(a.InterconnectShare > 0, "activations crossed the boundary");
    }

    [Fact]
    public async Task Simulated_runs_repeat_exactly_while_others_load_the_machine()
    {
        // Requests arriving at the same virtual instant keep their batch order however the request
        // actors' messages race to the scheduler; six runs at once make the race likely.
        var request = Request("2x rtx-3090", 4);
        var batch = LayoutSimulator.ClosedLoopRequests(request, 4, 10, seed: 17);
        var runs = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ =>
            Task.Run(() => SimulatedServing.RunAsync(request.Model, request.Weights, request.Topology, 2, 1, batch, 512, 4))));
        var timings = runs.Select(r => string.Join(";", r.RequestTimings.Select(t => FormattableString.Invariant($"{t.QueuedMs:R}/{t.TimeToFirstTokenMs:R}/{t.TotalMs:R}")))).Distinct().ToList();
        Assert.Single(timings);
    }
}
