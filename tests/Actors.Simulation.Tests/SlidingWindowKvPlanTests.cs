using Actors.Inference.Compute;
using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;
using Xunit;

namespace Actors.Simulation.Tests;

/// <summary>The planner's KV memory is per layer: a sliding-window layer keeps its window, not the whole context.</summary>
public class SlidingWindowKvPlanTests
{
    private static readonly ModelShape Gemma3 = ModelCatalog.Default.Model("gemma-3-27b");

    [Fact]
    public void Gemma3_27b_in_the_catalog_has_52_sliding_layers_of_window_1024()
    {
        var c = Gemma3.Config;
        Assert.Equal("gemma3", c.Architecture);
        Assert.Equal(1024, c.SlidingWindow);
        Assert.Equal(52, Enumerable.Range(0, c.BlockCount).Count(c.IsSlidingLayer));
        Assert.Equal(128, c.HeadDim);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(2048)]
    [InlineData(8192)]
    public void A_sequence_keeps_the_whole_context_in_global_layers_and_the_window_in_sliding_ones(int context)
    {
        long perTokenPerLayer = 2L * Gemma3.Config.KvDim * 2;
        long expected = perTokenPerLayer * (10L * context + 52L * Math.Min(context, 1024));
        Assert.Equal(expected, Gemma3.KvBytesPerSequence(context));
        // Stage split: layers 0-30 hold five global layers (5, 11, 17, 23, 29), as do layers 31-61.
        Assert.Equal(perTokenPerLayer * (5L * context + 26L * Math.Min(context, 1024)), Gemma3.KvBytesPerSequence(context, 2, new LayerRange(0, 31)));
        // A llama-shaped model keeps every token in every layer.
        var llama = ModelCatalog.Default.Model("llama-3-8b");
        Assert.Equal(llama.KvBytesPerToken(2) * context, llama.KvBytesPerSequence(context));
    }

    [Fact]
    public void The_plan_counts_a_long_context_gemma3_workload_at_its_per_layer_KV()
    {
        var topology = Topology.Parse(HardwareCatalog.Default, "1x h200");
        var request = new PlanRequest(Gemma3, ModelCatalog.Default.Format("Q4_K_M"), topology, Workload.Fixed(16, 7168, 1024));
        var estimate = Planner.Estimate(request, Layout.Parse("tp1 pp1 x1"));
        // 16 sequences of 8192 tokens: 16 × 1.11 GB per layer figure, against 16 × 4.16 GB if every layer kept the context.
        double kvGb = 16 * Gemma3.KvBytesPerSequence(8192) / 1e9;
        double allLayersGb = 16 * Gemma3.KvBytesPerToken(2) * 8192 / 1e9;
        Assert.InRange(kvGb, 17, 18.5);
        Assert.InRange(allLayersGb, 66, 67);
        Assert.True(estimate.Fits, estimate.Note);
        Assert.True(estimate.MemoryPerDeviceGb < 20 + kvGb, $"{estimate.MemoryPerDeviceGb:F1} GB per device");
    }
}
