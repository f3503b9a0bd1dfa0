using Actors.Inference.Compute;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;
using Xunit;

namespace Actors.Simulation.Tests;

/// <summary>Attention and elementwise work: their traffic, and the measured CPU rates that replace the efficiencies.</summary>
public class NonMatmulCostTests
{
    private static readonly GpuSpec Cpu = HardwareCatalog.Default.Gpu("cpu-template").Ideal() with { MemoryBandwidth = 40e9, Fp16Flops = 200e9 };

    [Fact]
    public void Layer_traffic_counts_kv_reads_and_writes_and_activation_passes()
    {
        // 2 sequences at context 128 (256 context tokens), 2 new tokens, q = 4096, kv = 1024, 4-byte
        // KV and activations: 256·2·1024·4 + 2·2·1024·4 + 2·2·4096·4 = 2097152 + 16384 + 65536.
        Assert.Equal(2_179_072, LayerTraffic.AttentionBytes(256, 2, 4096, 1024, 1, 4, 4));
        // Tensor parallel 2 halves the per-device widths.
        Assert.Equal(2_179_072 / 2.0, LayerTraffic.AttentionBytes(256, 2, 4096, 1024, 2, 4, 4));
        Assert.Equal(4.0 * 256 * 4096, LayerTraffic.AttentionFlops(256, 4096, 1));
        // One token, h = q = 4096, kv = 1024, ff = 11008, 4 bytes: 4·(4·4096 + 2·5120 + 3·11008 + 6·4096) = 336896.
        Assert.Equal(336_896, LayerTraffic.ElementwiseBytes(1, 4096, 4096, 1024, 11008, 1, 4));
    }

    [Fact]
    public void A_measured_attention_rate_replaces_the_compute_efficiency()
    {
        // 1 MB and 1 GFLOP: at 200 GFLOP/s 5 ms, at a measured 25 GFLOP/s 40 ms; the read (25 µs) is shorter either way.
        Assert.Equal(5e-3, Cpu.AttentionSeconds(1e6, 1e9), 12);
        Assert.Equal(40e-3, (Cpu with { AttentionFlops = 25e9 }).AttentionSeconds(1e6, 1e9), 12);
        // The DRAM read still bounds it: 4 GB at 40 GB/s = 100 ms.
        Assert.Equal(0.1, (Cpu with { AttentionFlops = 25e9 }).AttentionSeconds(4e9, 1e9), 12);
    }

    [Fact]
    public void A_measured_elementwise_rate_replaces_the_bandwidth()
    {
        Assert.Equal(1e-3, Cpu.ElementwiseSeconds(40e6), 12);
        Assert.Equal(2e-3, (Cpu with { ElementwiseBandwidth = 20e9 }).ElementwiseSeconds(40e6), 12);
    }

    [Fact]
    public void A_step_charges_attention_and_elementwise_work_at_the_measured_rates()
    {
        var model = ModelCatalog.Default.Model("llama-2-7b");
        var f16 = ModelCatalog.Default.Format("F16");
        var cost = new RooflineCostModel(new RooflineOptions { ActivationBytes = 4, KvElementBytes = 4 });
        var batch = BatchShape.Decode(4, 128);
        var measured = Cpu with { AttentionFlops = 10e9, ElementwiseBandwidth = 10e9 };
        var s = cost.StageStep(model, f16, new LayerRange(0, 32), false, false, batch, measured);
        // llama-2-7b: q = kv = 4096, ff = 11008. Per layer 4·(4·128)·4096 FLOPs of attention at 10 GFLOP/s
        // (0.84 ms; its 17 MB of K/V read take 0.43 ms at 40 GB/s);
        // 4·4·(4·4096 + 2·8192 + 3·11008 + 6·4096) bytes elementwise at 10 GB/s.
        Assert.Equal(32 * 4 * 512.0 * 4096 / 10e9, s.AttentionSeconds, 12);
        Assert.Equal(32 * 16.0 * (16384 + 16384 + 33024 + 24576) / 10e9, s.ElementwiseSeconds, 12);
    }
}
