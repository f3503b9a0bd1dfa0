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
