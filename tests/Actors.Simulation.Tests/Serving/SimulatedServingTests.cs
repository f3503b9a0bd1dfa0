using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;
using Actors.Simulation.Serving;

namespace Actors.Simulation.Tests.Serving;

/// <summary>The actor runtime on simulated GPUs and a virtual clock.</summary>
public sealed class SimulatedServingTests
{
    private static readonly HardwareCatalog Hw = HardwareCatalog.Default;
    private static readonly ModelCatalog Models = ModelCatalog.Default;

    private static Task<SimulationResult> Run(string rig, int pipeline, int replicas, IReadOnlyList<SimulatedRequest> workload, string model = "llama-2-7b", string format = "F16") =>
        SimulatedServing.RunAsync(Models.Model(model), Models.Format(format), Planning.Topology.Parse(Hw, rig), pipeline, replicas, workload);

    [Fact]
    public async Task One_sequence_decodes_at_the_cost_models_step_time()
    {
        var r = await Run("1x rtx-3090", 1, 1, [new SimulatedRequest(128, 32, 0)]);
        // Llama-2 7B F16 reads 13.5 GB per token: at least 14.4 ms on a 936 GB/s 3090, a few ms more with efficiency.
        double itl = r.ItlMs.Order().ElementAt(r.ItlMs.Count / 2);
        Assert.InRange(itl, 14.4, 25);
        Assert.Equal(32, r.GeneratedTokens);
        Assert.True(r.TtftMs[0] > itl, "prefilling 128 tokens takes longer than one decode step");
    }

    [Fact]
    public async Task A_pipeline_does_not_shorten_the_time_per_token_of_one_sequence()
    {
        var one = await Run("4x rtx-3090", 1, 1, [new SimulatedRequest(64, 24, 0)], format: "Q4_0");
        var four = await Run("4x rtx-3090", 4, 1, [new SimulatedRequest(64, 24, 0)], format: "Q4_0");
        double itl1 = one.ItlMs.Average(), itl4 = four.ItlMs.Average();
        Assert.True(itl4 >= itl1, $"pipeline of 4: {itl4:F2} ms per token, one GPU: {itl1:F2} ms");
        Assert.True(four.TransferSeconds > 0, "activations crossed between stages");
    }

    [Fact]
    public async Task Arrivals_are_honoured_on_the_virtual_clock()
    {
        var r = await Run("1x rtx-3090", 1, 1, [new SimulatedRequest(32, 8, 0), new SimulatedRequest(32, 8, 100)], format: "Q4_0");
        // The second request arrives 100 virtual seconds later: the run spans at least that long.
        Assert.True(r.VirtualSeconds >= 100, $"{r.VirtualSeconds} s");
        Assert.True(r.WallSeconds < 60, $"{r.WallSeconds} s of wall time");
        Assert.All(r.TtftMs, t => Assert.True(t < 1000, $"TTFT {t} ms: the clock jumped to the arrival instead of counting the idle time"));
    }

    [Fact]
    public async Task Greedy_steps_from_the_last_stages_top_k_give_the_virtual_times_of_whole_logits()
    {
        var workload = Enumerable.Range(0, 8).Select(i => new SimulatedRequest(16 + 5 * i, 6 + i, 0)).ToList();
        var logits = await SimulatedServing.RunAsync(Models.Model("llama-2-7b"), Models.Format("Q4_0"), Planning.Topology.Parse(Hw, "2x rtx-3090"), 2, 1, workload, topKSampling: false);
        var topK = await SimulatedServing.RunAsync(Models.Model("llama-2-7b"), Models.Format("Q4_0"), Planning.Topology.Parse(Hw, "2x rtx-3090"), 2, 1, workload, topKSampling: true);
        Assert.Equal(logits.GeneratedTokens, topK.GeneratedTokens);
        Assert.Equal(logits.VirtualSeconds, topK.VirtualSeconds, 9);
        Assert.Equal(logits.TtftMs, topK.TtftMs);
    }

    [Fact]
    public async Task The_same_workload_gives_the_same_result()
    {
        var workload = Enumerable.Range(0, 12).Select(i => new SimulatedRequest(16 + 7 * i, 10 + i, i * 0.05)).ToList();
        var a = await Run("2x rtx-3090", 2, 1, workload, format: "Q4_0");
        var b = await Run("2x rtx-3090", 2, 1, workload, format: "Q4_0");
        Assert.Equal(a.GeneratedTokens, b.GeneratedTokens);
        Assert.Equal(a.VirtualSeconds, b.VirtualSeconds, 9);
        Assert.Equal(a.TtftMs, b.TtftMs);
    }
}
