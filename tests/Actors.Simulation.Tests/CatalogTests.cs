using Actors.Simulation.Catalog;
using Xunit;

namespace Actors.Simulation.Tests;

public class CatalogTests
{
    [Fact]
    public void Embedded_hardware_catalog_has_every_gpu_and_link_the_planner_needs()
    {
        var c = HardwareCatalog.Default;
        foreach (var g in new[] { "rtx-3090", "rtx-4090", "a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "cpu-template" })
            Assert.True(c.Gpus.ContainsKey(g), g);
        foreach (var l in new[] { "pcie3-x16", "pcie4-x16", "pcie5-x16", "host-staged-pcie4", "rtx3090-nvlink", "nvlink4-nvswitch",
                     "ethernet-10g", "ethernet-25g", "ethernet-100g", "infiniband-hdr", "infiniband-ndr" })
            Assert.True(c.Links.ContainsKey(l), l);
    }

    [Fact]
    public void Rtx3090_figures_are_the_datasheet_ones_not_the_articles()
    {
        var c = HardwareCatalog.Default;
        var g = c.Gpu("rtx-3090");
        Assert.Equal(24L << 30, g.MemoryBytes);
        Assert.Equal(936e9, g.MemoryBandwidth, 1);
        Assert.Equal(71e12, g.Fp16Flops, 1);
        var nv = c.Link(g.NvLink!);
        Assert.Equal(56.25e9, nv.Bandwidth, 1);
        Assert.Equal(112.5e9, nv.BidirectionalBandwidth, 1);
        Assert.True(nv.PairsOnly);
        var staged = c.Link("host-staged-pcie4");
        Assert.Equal(11.28e9, staged.Bandwidth, 1);
        Assert.Equal(15.23e-6, staged.LatencySeconds, 9);
        Assert.Equal(450e9, c.Link("nvlink4-nvswitch").Bandwidth, 1);
        Assert.Equal(31.5e9, c.Link("pcie4-x16").Bandwidth, 1);
    }

    [Fact]
    public void A_cpu_entry_may_describe_its_matmul_kernel_per_weight_format()
    {
        var c = HardwareCatalog.Parse("""
            cpus { box { memory-gib = 64, memory-bandwidth-gbs = 40, fp16-tflops = 0.2, memory-efficiency = 0.9, compute-efficiency = 1,
                         launch-overhead-us = 5, pcie = lan,
                         matmul { Q4_K { tiled-tflops = 0.22, single-tflops = 0.07, tile-tokens = 4 } } } }
            gpus { g { memory-gib = 8, memory-bandwidth-gbs = 100, fp16-tflops = 1, memory-efficiency = 1, compute-efficiency = 1, launch-overhead-us = 1, pcie = lan } }
            links { lan { bandwidth-gbs = 1, latency-us = 10, efficiency = 1 } }
            """);
        var box = c.Gpu("box");
        Assert.Equal(new MatmulKernel(0.22e12, 0.07e12, 4), box.MatmulKernels["Q4_K"]);
        // Q4_K: 8 tokens are two whole tiles; Q8_0 has no kernel entry and runs at fp16-tflops.
        Assert.Equal(2 * 1e6 * 8 / 0.22e12, box.MatmulComputeSeconds(ModelCatalog.Default.Format("Q4_K"), 1e6, 8), 12);
        Assert.Equal(2 * 1e6 * 8 / 0.2e12, box.MatmulComputeSeconds(ModelCatalog.Default.Format("Q8_0"), 1e6, 8), 12);
        Assert.Empty(c.Gpu("g").MatmulKernels);
    }

    [Fact]
    public void A_cpu_kernel_may_give_its_rates_per_row_length()
    {
        var c = HardwareCatalog.Parse("""
            cpus { box { memory-gib = 64, memory-bandwidth-gbs = 40, fp16-tflops = 0.2, memory-efficiency = 0.9, compute-efficiency = 1,
                         launch-overhead-us = 5, pcie = lan,
                         matmul { F16 { tile-tokens = 6, leftover-rereads = true, row-length { 4096 { tiled-tflops = 0.12, single-tflops = 0.05, stream-gbs = 31 } 11008 { tiled-tflops = 0.1, single-tflops = 0.03, stream-gbs = 29 } } } } } }
            links { lan { bandwidth-gbs = 1, latency-us = 10, efficiency = 1 } }
            """);
        var k = c.Gpu("box").MatmulKernels["F16"];
        Assert.Equal(6, k.TileTokens);
        Assert.True(k.LeftoversReread);
        Assert.Equal([new MatmulRates(4096, 0.12e12, 0.05e12, 31e9), new MatmulRates(11008, 0.1e12, 0.03e12, 29e9)], k.Rates);
        Assert.Throws<CatalogException>(() => HardwareCatalog.Parse("""
            cpus { box { memory-gib = 64, memory-bandwidth-gbs = 40, fp16-tflops = 0.2, memory-efficiency = 0.9, compute-efficiency = 1,
                         launch-overhead-us = 5, pcie = lan, matmul { F16 { tile-tokens = 6, row-length { wide { tiled-tflops = 0.1, single-tflops = 0.03 } } } } } }
            links { lan { bandwidth-gbs = 1, latency-us = 10, efficiency = 1 } }
            """));
    }

    [Fact]
    public void A_cpu_entry_may_give_measured_attention_and_elementwise_rates_and_a_first_tile_rate()
    {
        var c = HardwareCatalog.Parse("""
            cpus { box { memory-gib = 64, memory-bandwidth-gbs = 40, fp16-tflops = 0.2, memory-efficiency = 1, compute-efficiency = 1,
                         launch-overhead-us = 0, pcie = lan, attention-gflops = 25, elementwise-gbs = 38,
                         matmul { Q4_K { tile-tokens = 4, row-length { 4096 { tiled-tflops = 0.25, single-tflops = 0.13, stream-gbs = 29, tile-stream-tflops = 0.09 } } } } } }
            links { lan { bandwidth-gbs = 1, latency-us = 10, efficiency = 1 } }
            """);
        var box = c.Gpu("box");
        Assert.Equal(25e9, box.AttentionFlops, 1);
        Assert.Equal(38e9, box.ElementwiseBandwidth, 1);
        Assert.Equal(new MatmulRates(4096, 0.25e12, 0.13e12, 29e9, 0.09e12), box.MatmulKernels["Q4_K"].Rates[0]);
        // Not given: 0, and the roofline's efficiencies apply.
        Assert.Equal(0, HardwareCatalog.Default.Gpu("cpu-template").AttentionFlops);
        Assert.Equal(0, HardwareCatalog.Default.Gpu("cpu-template").ElementwiseBandwidth);
    }

    [Fact]
    public void Unknown_gpu_lists_the_known_ones()
    {
        var e = Assert.Throws<CatalogException>(() => HardwareCatalog.Default.Gpu("rtx-5090"));
        Assert.Contains("rtx-5090", e.Message);
        Assert.Contains("rtx-3090", e.Message);
        Assert.Contains("h200", e.Message);
    }

    [Fact]
    public void Unknown_model_and_format_list_the_known_ones()
    {
        var e = Assert.Throws<CatalogException>(() => ModelCatalog.Default.Model("llama-4"));
        Assert.Contains("llama-2-7b", e.Message);
        Assert.Contains("falcon-180b-like", e.Message);
        var f = Assert.Throws<CatalogException>(() => ModelCatalog.Default.Format("Q1_X"));
        Assert.Contains("Q4_K_M", f.Message);
    }

    [Fact]
    public void Missing_key_is_named_with_its_full_path()
    {
        var e = Assert.Throws<CatalogException>(() => HardwareCatalog.Parse("""
            gpus { g1 { memory-gib = 24, fp16-tflops = 10, memory-efficiency = 0.8, compute-efficiency = 0.7, launch-overhead-us = 5, pcie = l1 } }
            links { l1 { bandwidth-gbs = 10, latency-us = 1, efficiency = 1 } }
            """));
        Assert.Contains("gpus.g1.memory-bandwidth-gbs", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Out_of_range_and_non_numeric_values_are_named()
    {
        const string ok = "memory-gib = 24, memory-bandwidth-gbs = 900, fp16-tflops = 10, compute-efficiency = 0.7, launch-overhead-us = 5, pcie = l1";
        const string links = "links { l1 { bandwidth-gbs = 10, latency-us = 1, efficiency = 1 } }";
        var e = Assert.Throws<CatalogException>(() => HardwareCatalog.Parse($"gpus {{ g1 {{ {ok}, memory-efficiency = 1.5 }} }} {links}"));
        Assert.Contains("gpus.g1.memory-efficiency", e.Message);
        Assert.Contains("out of range", e.Message);
        var n = Assert.Throws<CatalogException>(() => HardwareCatalog.Parse($"gpus {{ g1 {{ {ok}, memory-efficiency = fast }} }} {links}"));
        Assert.Contains("gpus.g1.memory-efficiency", n.Message);
        Assert.Contains("not a number", n.Message);
    }

    [Fact]
    public void Gpu_naming_an_unknown_link_is_rejected_with_the_known_links()
    {
        var e = Assert.Throws<CatalogException>(() => HardwareCatalog.Parse("""
            gpus { g1 { memory-gib = 24, memory-bandwidth-gbs = 900, fp16-tflops = 10, memory-efficiency = 0.8, compute-efficiency = 0.7, launch-overhead-us = 5, pcie = l1, nvlink = nv9 } }
            links { l1 { bandwidth-gbs = 10, latency-us = 1, efficiency = 1 } }
            """));
        Assert.Contains("gpus.g1.nvlink", e.Message);
        Assert.Contains("l1", e.Message);
    }

    [Fact]
    public void Bad_link_scope_and_model_shape_are_named()
    {
        var e = Assert.Throws<CatalogException>(() => HardwareCatalog.Parse("""
            gpus { g1 { memory-gib = 24, memory-bandwidth-gbs = 900, fp16-tflops = 10, memory-efficiency = 0.8, compute-efficiency = 0.7, launch-overhead-us = 5, pcie = l1 } }
            links { l1 { bandwidth-gbs = 10, latency-us = 1, efficiency = 1, scope = moon } }
            """));
        Assert.Contains("links.l1.scope", e.Message);
        var m = Assert.Throws<CatalogException>(() => ModelCatalog.Parse("""
            models { m1 { dim = 4096, layers = 32, heads = 32, kv-heads = 5, ffn = 11008, vocab = 32000, context = 4096 } }
            weight-formats { F16 { block = 1, block-bytes = 2 } }
            """));
        Assert.Contains("models.m1.heads", m.Message);
    }

    [Theory]
    [InlineData("F32", 32.0)]
    [InlineData("F16", 16.0)]
    [InlineData("BF16", 16.0)]
    [InlineData("Q8_0", 8.5)]
    [InlineData("Q6_K", 6.5625)]
    [InlineData("Q4_K", 4.5)]
    [InlineData("Q4_0", 4.5)]
    [InlineData("Q4_K_M", 4.84)]
    [InlineData("Q3_K", 3.4375)]
    [InlineData("Q2_K", 2.625)]
    public void Weight_formats_have_ggml_bits_per_weight(string name, double bpw)
        => Assert.Equal(bpw, ModelCatalog.Default.Format(name).BitsPerWeight, 6);

    [Theory]
    [InlineData("llama-2-7b", 6.738e9)]
    [InlineData("llama-2-13b", 13.016e9)]
    [InlineData("llama-2-70b", 68.977e9)]
    [InlineData("llama-3-8b", 8.03e9)]
    [InlineData("llama-3-70b", 70.55e9)]
    [InlineData("mistral-7b", 7.24e9)]
    [InlineData("falcon-180b-like", 179.5e9)]
    public void Parameter_counts_match_the_published_sizes(string model, double parameters)
        => Assert.Equal(parameters, ModelCatalog.Default.Model(model).TotalParameters, parameters * 0.005);

    [Fact]
    public void Model_shapes_are_llama_configs_the_runtime_can_use()
    {
        var m = ModelCatalog.Default.Model("llama-2-70b").Config;
        Assert.Equal("llama", m.Architecture);
        Assert.Equal(8192, m.EmbeddingLength);
        Assert.Equal(80, m.BlockCount);
        Assert.Equal(8, m.HeadCountKv);
        Assert.Equal(128, m.HeadDim);
        Assert.Equal(8, m.GroupSize);
        Assert.Equal(320 * 1024, m.KvBytesPerToken(2));   // 2·80·1024·2 bytes (A5: 320 KiB)
        Assert.Equal(512 * 1024, ModelCatalog.Default.Model("llama-2-7b").KvBytesPerToken(2));
    }

    [Fact]
    public void Weight_bytes_match_the_reference_table()
    {
        var c = ModelCatalog.Default;
        // shared/reference/hardware-and-gguf.md A5: 7B F16 13.48 GB, 70B Q8_0 73.3 GB, 13B Q4 7.32 GB.
        Assert.Equal(13.48e9, c.Model("llama-2-7b").WeightBytes(c.Format("F16")), 0.01e9);
        Assert.Equal(73.3e9, c.Model("llama-2-70b").WeightBytes(c.Format("Q8_0")), 0.05e9);
        Assert.Equal(7.32e9, c.Model("llama-2-13b").WeightBytes(c.Format("Q4_0")), 0.01e9);
    }
}
