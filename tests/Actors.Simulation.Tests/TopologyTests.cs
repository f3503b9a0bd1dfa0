using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;
using Xunit;

namespace Actors.Simulation.Tests;

public class TopologyTests
{
    private static readonly HardwareCatalog Hw = HardwareCatalog.Default;

    [Fact]
    public void Bridged_3090_pairs_use_nvlink_inside_a_pair_and_host_staged_pcie_across()
    {
        var t = Topology.Parse(Hw, "4x rtx-3090 nvlink=0-1,2-3");
        Assert.Equal("rtx3090-nvlink", t.LinkBetween(0, 1).Name);
        Assert.Equal("rtx3090-nvlink", t.LinkBetween(3, 2).Name);
        Assert.Equal("host-staged-pcie4", t.LinkBetween(1, 2).Name);
        Assert.Equal("host-staged-pcie4", t.RingBottleneck([0, 1, 2, 3]).Name);
        Assert.Equal("rtx3090-nvlink", t.RingBottleneck([0, 1]).Name);
        Assert.Equal(Actors.Simulation.Cost.AllReduceAlgorithm.Ring, t.AllReduceFor([0, 1, 2, 3]));
        Assert.Equal(Actors.Simulation.Cost.AllReduceAlgorithm.Ring, Topology.Parse(Hw, "4x rtx-3090").AllReduceFor([0, 1]));
        Assert.Equal(Actors.Simulation.Cost.AllReduceAlgorithm.TwoShot, Topology.Parse(Hw, "8x h100-sxm nvswitch").AllReduceFor([0, 1, 2, 3, 4, 5, 6, 7]));
    }

    [Fact]
    public void A_3090_bridge_joins_exactly_two_cards()
    {
        var e = Assert.Throws<CatalogException>(() => Topology.Parse(Hw, "4x rtx-3090 nvlink=0-1,1-2"));
        Assert.Contains("exactly two", e.Message);
    }

    [Fact]
    public void Cards_without_nvlink_cannot_be_bridged()
    {
        var e = Assert.Throws<CatalogException>(() => Topology.Parse(Hw, "2x rtx-4090 nvlink=0-1"));
        Assert.Contains("no NVLink", e.Message);
    }

    [Fact]
    public void Nodes_talk_over_the_network()
    {
        var t = Topology.Parse(Hw, "16x h100-sxm nvswitch gpus-per-node=8 network=infiniband-ndr");
        Assert.Equal(2, t.Nodes);
        Assert.Equal("nvlink4-nvswitch", t.LinkBetween(0, 7).Name);
        Assert.Equal("infiniband-ndr", t.LinkBetween(7, 8).Name);
        Assert.Throws<CatalogException>(() => Topology.Parse(Hw, "16x h100-sxm gpus-per-node=8"));
    }

    [Fact]
    public void Unknown_names_in_a_topology_list_the_known_ones()
    {
        var gpu = Assert.Throws<CatalogException>(() => Topology.Parse(Hw, "4x rtx-9090"));
        Assert.Contains("rtx-3090", gpu.Message);
        var link = Assert.Throws<CatalogException>(() => Topology.Parse(Hw, "4x rtx-3090 pcie=pcie9"));
        Assert.Contains("pcie4-x16", link.Message);
        var option = Assert.Throws<CatalogException>(() => Topology.Parse(Hw, "4x rtx-3090 bridges=2"));
        Assert.Contains("nvlink=", option.Message);
    }

    [Theory]
    [InlineData("512", 512, 512, 512.0)]
    [InlineData("100-300", 200, 298, 200.0)]
    public void Length_distributions_parse_and_give_quantiles(string text, int p50, int p99, double mean)
    {
        var d = LengthDistribution.Parse(text);
        Assert.Equal(p50, d.Quantile(0.5));
        Assert.Equal(p99, d.Quantile(0.99));
        Assert.Equal(mean, d.Mean, 6);
    }

    [Fact]
    public void Lognormal_lengths_have_the_median_and_a_long_tail()
    {
        var d = LengthDistribution.Parse("lognormal:512:0.8");
        Assert.Equal(512, d.Quantile(0.5));
        Assert.InRange(d.Quantile(0.99), 3000, 3400);   // 512·e^(0.8·2.326) = 3292
        var rng = new Actors.Inference.Synthetic.DeterministicRandom(1);
        double sum = 0;
        for (int i = 0; i < 20000; i++) sum += d.Sample(ref rng);
        Assert.InRange(sum / 20000, d.Mean * 0.95, d.Mean * 1.05);
    }
}

/// <summary>The planner's two-machine rigs and the runtime's accounting cost a network link with one model (Actors.Runtime.Transfer.LinkModel).</summary>
public class SharedLinkModelTests
{
    [Theory]
    [InlineData("ethernet-10g")]
    [InlineData("infiniband-ndr")]
    public void A_two_machine_rigs_network_link_costs_the_same_in_the_planner_and_in_the_runtime_it_configures(string network)
    {
        var hw = HardwareCatalog.Default;
        var rig = Topology.Parse(hw, $"2x rtx-3090 gpus-per-node=1 network={network}");
        var link = rig.LinkBetween(0, 1);
        Assert.Equal(LinkScope.Network, link.Scope);
        // The HOCON the simulated serving run gives the runtime for this rig, read back as the runtime reads it.
        var model = ModelCatalog.Default.Model("llama-2-7b");
        string hocon = Actors.Simulation.Serving.SimulatedServing.Hocon(model, ModelCatalog.Default.Formats.Values.First(), rig, pipeline: 2, replicas: 1, 256, 16);
        var settings = Actors.Runtime.Configuration.RuntimeSettings.Create(Akka.Configuration.ConfigurationFactory.ParseString(hocon)
            .WithFallback(Actors.Runtime.Configuration.RuntimeSettings.DefaultConfig()));
        var path = Actors.Runtime.Transfer.Topology.FromSettings(settings).Choose("gpu:0", "gpu:1");
        Assert.Equal(Actors.Runtime.Transfer.PathKind.Network, path.Kind);
        Assert.Equal(link.Model, path.Model with { LatencySeconds = link.LatencySeconds }); // latency travels as whole nanoseconds
        Assert.Equal(link.LatencySeconds, path.LatencySeconds, 9);
        foreach (long bytes in new long[] { 8_192, 1 << 20, 256 << 20 })
            Assert.Equal(link.TransferSeconds(bytes), path.EstimateSeconds(bytes), 9);
    }

    [Fact]
    public void A_link_model_fitted_to_two_transfers_recovers_bandwidth_and_latency()
    {
        var truth = new Actors.Runtime.Transfer.LinkModel(2.5e9, 40e-6);
        var fit = Actors.Runtime.Transfer.LinkModel.Fit(64, truth.Seconds(64), 4 << 20, truth.Seconds(4 << 20));
        Assert.Equal(truth.BytesPerSecond, fit.BytesPerSecond, 1e-6 * truth.BytesPerSecond);
        Assert.Equal(truth.LatencySeconds, fit.LatencySeconds, 1e-12);
        Assert.Equal(3 * truth.LatencySeconds + (3L << 20) / truth.BytesPerSecond, truth.Predict(3L << 20, 3), 1e-15);
        Assert.Throws<ArgumentException>(() => Actors.Runtime.Transfer.LinkModel.Fit(100, 1e-5, 100, 1e-5));
    }
}
