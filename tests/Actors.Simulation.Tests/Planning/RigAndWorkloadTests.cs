using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;

namespace Actors.Simulation.Tests;

/// <summary>How people name rigs, models, formats and workloads, and the one-line errors when a name is wrong.</summary>
public class RigAndWorkloadTests
{
    private static readonly HardwareCatalog Hw = HardwareCatalog.Default;
    private static readonly ModelCatalog Mc = ModelCatalog.Default;

    [Theory]
    [InlineData("4xrtx3090", 4)]
    [InlineData("4x rtx-3090", 4)]
    [InlineData("4X RTX_3090", 4)]
    [InlineData("2*rtx-3090", 2)]
    [InlineData("rtx3090", 1)]
    public void Gpu_counts_and_names_are_read_in_either_spelling(string text, int count)
    {
        var (n, gpu) = Rig.ParseGpus(Hw, text);
        Assert.Equal(count, n);
        Assert.Equal("rtx-3090", gpu.Name);
    }

    [Fact]
    public void Model_and_format_names_forgive_case_and_punctuation()
    {
        Assert.Equal("llama-2-70b", Mc.Model("llama2-70b").Name);
        Assert.Equal("llama-2-70b", Mc.Model("Llama_2_70B").Name);
        Assert.Equal("Q4_K", Mc.Format("q4_k").Name);
        Assert.Equal("Q4_K_M", Mc.Format("q4km").Name);
    }

    [Fact]
    public void An_unknown_gpu_in_a_rig_lists_the_known_ones()
    {
        var e = Assert.Throws<CatalogException>(() => Rig.Build(Hw, "4xrtx9090"));
        Assert.Contains("'rtx9090'", e.Message);
        Assert.Contains("rtx-3090", e.Message);
    }

    [Fact]
    public void Pcie4_means_host_staged_on_geforce_and_peer_to_peer_on_data_centre_cards()
    {
        Assert.Equal("host-staged-pcie4", Rig.ResolveLink(Hw, Hw.Gpu("rtx-3090"), "pcie4").Name);
        Assert.Equal("pcie4-x16", Rig.ResolveLink(Hw, Hw.Gpu("rtx-3090"), "pcie4-p2p").Name);
        Assert.Equal("pcie4-x16", Rig.ResolveLink(Hw, Hw.Gpu("a100-80gb"), "pcie4").Name);
        Assert.Equal("host-staged-pcie3", Rig.ResolveLink(Hw, Hw.Gpu("rtx-3090"), "pcie3").Name);
    }

    [Fact]
    public void NVLink_is_not_a_pcie_link_and_unknown_links_are_listed()
    {
        var nv = Assert.Throws<CatalogException>(() => Rig.ResolveLink(Hw, Hw.Gpu("rtx-3090"), "nvlink"));
        Assert.Contains("--nvlink-pairs", nv.Message);
        var e = Assert.Throws<CatalogException>(() => Rig.ResolveLink(Hw, Hw.Gpu("rtx-3090"), "pcie9"));
        Assert.Contains("'pcie9'", e.Message);
        Assert.Contains("pcie4-p2p", e.Message);
    }

    [Fact]
    public void A_rig_with_bridged_pairs_uses_nvlink_inside_each_pair()
    {
        var t = Rig.Build(Hw, "4xrtx3090", "pcie4", "0-1,2-3");
        Assert.Equal("rtx3090-nvlink", t.LinkBetween(0, 1).Name);
        Assert.Equal("host-staged-pcie4", t.LinkBetween(1, 2).Name);
        var e = Assert.Throws<CatalogException>(() => Rig.Build(Hw, "4xrtx3090", nvlinkPairs: "0-1", nvswitch: true));
        Assert.Contains("exclude each other", e.Message);
        var bad = Assert.Throws<CatalogException>(() => Rig.ParsePairs("0-1,2"));
        Assert.Contains("'2'", bad.Message);
    }

    [Fact]
    public void Presets_have_the_article_shape_and_files_override_them()
    {
        var chat = WorkloadPresets.Resolve("chat");
        Assert.Equal(512, chat.Workload.Prompt.Quantile(0.5));
        Assert.Equal(256, chat.Workload.Output.Quantile(0.5));
        Assert.True(WorkloadPresets.All.ContainsKey("long-context"));
        Assert.True(WorkloadPresets.All.ContainsKey("batch-decode"));

        var hocon = WorkloadPresets.Parse("concurrency = 12\nprompt = \"128-1024\"\noutput = 200\nrequests = 50", "mine.conf");
        Assert.Equal(12, hocon.Workload.Concurrency);
        Assert.Equal(128, hocon.Workload.Prompt.Quantile(0));
        Assert.Equal(50, hocon.Requests);
        Assert.Equal("mine", hocon.Name);

        var json = WorkloadPresets.Parse("""{ "concurrency": 3, "prompt": "lognormal:512:0.5", "output": 64, "prefill-chunk-tokens": 512 }""", "w.json");
        Assert.Equal(3, json.Workload.Concurrency);
        Assert.Equal(512, json.Workload.Prompt.Quantile(0.5));
        Assert.Equal(512, json.Workload.PrefillChunkTokens);
    }

    [Fact]
    public void Workload_file_errors_name_the_key_and_the_value()
    {
        var missing = Assert.Throws<CatalogException>(() => WorkloadPresets.Parse("prompt = 5\noutput = 5", "w.conf"));
        Assert.Contains("w.conf.concurrency is missing", missing.Message);
        var bad = Assert.Throws<CatalogException>(() => WorkloadPresets.Parse("concurrency = 2\nprompt = abc\noutput = 5", "w.conf"));
        Assert.Contains("w.conf.prompt = 'abc'", bad.Message);
        var unknown = Assert.Throws<CatalogException>(() => WorkloadPresets.Resolve("no-such-preset"));
        Assert.Contains("chat", unknown.Message);
    }

    [Fact]
    public void Comparison_plots_stack_one_panel_per_comparison()
    {
        string svg = ComparisonSvg.RenderPanels(
        [
            ("layouts", new[] { ("tp1 pp4 x1", "PCIe", 100.0), ("tp1 pp4 x1", "NVLink", 101.0) }),
            ("batch", new[] { ("batch 1", "PCIe", 20.0) }),
        ], "tokens/s");
        Assert.StartsWith("<svg", svg);
        Assert.Equal(2, svg.Split("<g transform=").Length - 1);
        Assert.Contains("tp1 pp4 x1", svg);
        Assert.Contains("batch 1", svg);
    }
}
